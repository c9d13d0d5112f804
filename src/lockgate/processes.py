"""Process groups and marked processes on this machine, shared by the engine and deploy/.

A marker is an environment variable every process of one job (or fleet) inherits; a process
that left its group (setsid, a double fork) still carries it, so it can be found and stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


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
