"""Process groups and marked processes on this machine, shared by the engine and deploy/.

A marker is an environment variable every process of one job (or fleet) inherits; a process
that left its group (setsid, a double fork) still carries it, so it can be found and stopped.
A fleet's instances and its agent are started detached: without the run's and job's markers,
and spared by a run's cleanups, so a deploy from a workflow step leaves its fleet running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
JOB_MARKER = "LOCKGATE_JOB"  # its value names one job: every process of the job carries it
RUN_MARKER = "LOCKGATE_RUN"  # ... one run
DETACHED = "LOCKGATE_DETACHED"  # =1: meant to outlive whatever run started it


def detached(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a process that must outlive the run it was started from."""
    kept = {k: v for k, v in env.items() if k not in (JOB_MARKER, RUN_MARKER)}
    kept[DETACHED] = "1"
    return kept


def spawn_detached(argv: list[str], log: Path, env: Mapping[str, str] = {}) -> None:
    """Start a daemon: its own session, cwd /, output appended to `log`, this process's
    environment plus `env`, outliving its starter and any run that started it."""
    with log.open("ab") as out:
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            cwd="/",
            env=detached({**os.environ, **env}),
        )


def is_detached(pid: int) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"{DETACHED}=1".encode() in environ


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def started_at(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None when it is gone. With the pid
    it names one process: a pid reused by a later process has another start time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])  # field 22 of proc(5); fields[0] is field 3


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def marked(marker: str) -> dict[int, list[bytes]]:
    """pid -> environment of every process of this user whose environment holds `marker`."""
    wanted = marker.encode()
    found: dict[int, list[bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in environ:
            found[int(entry.name)] = environ
    return found


def kill_marked(marker: str) -> int:
    """SIGKILL every process carrying `marker` (and its group); how many were found."""
    found = marked(marker)
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            kill_group(os.getpgid(pid))
    return len(found)


def become_subreaper() -> bool:
    """Make orphaned descendants (double-forked, setsid, env cleared) children of this process,
    so they can be found and stopped (Linux; False elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def children() -> set[int]:
    """Live child processes of this process."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def kill_children(keep: set[int]) -> int:
    """SIGKILL the children of this process not in `keep` (those it had before) and not
    detached; how many."""
    extra = {pid for pid in children() - keep if not is_detached(pid)}
    for pid in extra:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(extra)
