"""A fleet's instances as processes on one machine.

The local target calls these functions in-process; on an SSH host lockgate.hostserver (which
answers the deploying lockgate) and lockgate.hostagent (which supervises there) call them, from
the lockgate wheel installed on the host. Standard library only: a host needs Python and that
wheel.

Layout under a fleet's directory: instances/<slot>/releases/<digest>/ (the unpacked bundle
plus .lockgate-digest, and .lockgate-files.json: each file's sha256 as unpacked, so a release
changed on disk can be told) and instances/<slot>/<instance id>.log. Every instance process carries
LOCKGATE_FLEET and LOCKGATE_INSTANCE_ID in its environment, so instances whose record was lost
(lockgate killed between starting one and writing its reference) can still be found.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .common.archive import UnsafeArchive, unpack
from .common.httpcheck import status_of
from .common.ports import free_port
from .common.processes import detached, group_alive, kill_group

DIGEST_FILE = ".lockgate-digest"
FILES_FILE = ".lockgate-files.json"
ALTERED = "altered"  # written in DIGEST_FILE: the agent sees drift and replaces the instance
PROBE_TIMEOUT = 1.0
EXEC_SECONDS = 0.5


class CannotStart(Exception):
    """The instance could not be started; the message says why."""


@dataclass(frozen=True)
class Launch:
    fleet: str  # the fleet's directory on this machine
    instance_id: str
    slot: int
    digest: str
    bundle: str  # the bundle's path on this machine
    command: str  # the app's start command, run with bash in the release directory
    host: str  # the address the instance listens on ($HOST)
    port: int | None = None  # its port ($PORT); None: a free one


@dataclass(frozen=True)
class Seen:
    alive: bool
    digest: str | None  # of the release it runs, read from its working directory
    ready: bool


def release(fleet: Path, slot: int, bundle: Path, digest: str) -> Path:
    """The slot's unpacked release of `digest`; unpacked again when it was changed."""
    path = fleet / "instances" / str(slot) / "releases" / digest
    with contextlib.suppress(OSError):
        if (path / DIGEST_FILE).read_text().strip() == digest:
            return path
    temp = path.with_name(f".{digest}.{os.getpid()}")
    try:
        shutil.rmtree(temp, ignore_errors=True)
        unpack(bundle.read_bytes(), temp)
        (temp / FILES_FILE).write_text(json.dumps(_files(temp), sort_keys=True))
        (temp / DIGEST_FILE).write_text(digest + "\n")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # a changed copy (drift) is replaced whole
        os.replace(temp, path)
    except (OSError, UnsafeArchive, tarfile.TarError) as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise CannotStart(f"bundle {digest[:12]} refused: cannot unpack it: {exc}") from exc
    return path


def _files(root: Path) -> dict[str, str]:
    """Each file of a release (links as their target) -> its sha256; Python's bytecode
    caches, which running the app writes, and lockgate's own markers are left out."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            path = Path(folder) / name
            relative = str(path.relative_to(root))
            if relative in (DIGEST_FILE, FILES_FILE):
                continue
            if path.is_symlink():
                found[relative] = "link:" + os.readlink(path)
                continue
            with contextlib.suppress(OSError):
                found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def release_changes(fleet: Path, slot: int, digest: str) -> list[str] | None:
    """What differs in a slot's release of `digest` from the files it was unpacked with
    (`changed: app.py`, `added: x`, `removed: y`); None when that cannot be told (not
    unpacked, or by a lockgate that kept no list)."""
    path = fleet / "instances" / str(slot) / "releases" / digest
    try:
        kept = json.loads((path / FILES_FILE).read_text())
    except (OSError, ValueError):
        return None
    now = _files(path)
    changes = [f"changed: {n}" for n in sorted(set(now) & set(kept)) if now[n] != kept[n]]
    changes += [f"added: {n}" for n in sorted(set(now) - set(kept))]
    changes += [f"removed: {n}" for n in sorted(set(kept) - set(now))]
    return changes


def condemn(fleet: Path, slot: int, digest: str) -> None:
    """Mark a changed release: its instance is then seen running another release (drift),
    and replaced from a fresh copy of the bundle."""
    path = fleet / "instances" / str(slot) / "releases" / digest
    with contextlib.suppress(FileNotFoundError):
        (path / DIGEST_FILE).write_text(ALTERED + "\n")


def log_path(fleet: Path, slot: int, instance_id: str) -> Path:
    return fleet / "instances" / str(slot) / f"{instance_id}.log"


# What sshd tells a session. An instance is no session: started by one it would otherwise
# differ from the same instance restarted by the host's agent (bash even reads ~/.bashrc when
# it sees SSH_CLIENT), and a forwarded agent's socket dies with the session.
SSH_SESSION = frozenset(
    {"SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "SSH_AUTH_SOCK", "SSH_ORIGINAL_COMMAND",
     "SSH_USER_AUTH"}
)  # fmt: skip


def start(launch: Launch) -> tuple[subprocess.Popen[bytes], str]:
    """Start the instance detached (it outlives whoever starts it); (process, host:port)."""
    fleet = Path(launch.fleet)
    where = release(fleet, launch.slot, Path(launch.bundle), launch.digest)
    port = launch.port or free_port(launch.host)
    env = {
        **{k: v for k, v in detached(os.environ).items() if k not in SSH_SESSION},
        "HOST": launch.host,
        "PORT": str(port),
        "LOCKGATE_INSTANCE": str(launch.slot),
        "LOCKGATE_DIGEST": launch.digest,
        "LOCKGATE_INSTANCE_ID": launch.instance_id,
        "LOCKGATE_FLEET": str(fleet),
    }
    try:
        with log_path(fleet, launch.slot, launch.instance_id).open("ab") as out:
            process = subprocess.Popen(
                ["bash", "-c", launch.command],
                cwd=where,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
    except OSError as exc:
        raise CannotStart(f"cannot start `{launch.command}`: {exc}") from exc
    return process, f"{launch.host}:{port}"


def belongs(pgid: int, instance_id: str) -> bool:
    """Whether process group `pgid` is this instance's. Process ids are reused (32768 of them
    go round quickly): a live leader must carry the instance's marker; with no leader left, the
    group's id cannot have been reused while any of its members lives."""
    try:
        environ = _environ(pgid)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return f"LOCKGATE_INSTANCE_ID={instance_id}".encode() in environ


def _environ(pid: int) -> list[bytes]:
    """The process's environment. A process in the middle of exec shows an empty one for a
    moment (an instance stopped right after its start is: bash exec-ing the app), so an empty
    one is read again for up to EXEC_SECONDS before it stands."""
    deadline = time.monotonic() + EXEC_SECONDS
    while True:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        if raw or time.monotonic() > deadline:
            return raw.split(b"\0")
        time.sleep(0.005)


def alive(pgid: int, instance_id: str) -> bool:
    return group_alive(pgid) and not _zombie(pgid) and belongs(pgid, instance_id)


def observe(pgid: int, instance_id: str, address: str | None, readiness: str, probe: bool) -> Seen:
    """Whether the instance's process group lives, the release it runs, and (when `probe`)
    whether GET `readiness` answers 2xx."""
    if not alive(pgid, instance_id):
        return Seen(False, None, False)
    try:
        cwd = Path(os.readlink(f"/proc/{pgid}/cwd"))
        digest: str | None = (cwd / DIGEST_FILE).read_text().strip()
    except OSError:
        digest = None
    ready = False
    if probe and address:
        status = status_of(address, readiness, PROBE_TIMEOUT)
        ready = status is not None and 200 <= status < 300
    return Seen(True, digest, ready)


@dataclass(frozen=True)
class Look:
    pgid: int
    instance_id: str
    address: str | None
    readiness: str
    probe: bool


def observe_many(looks: list[Look]) -> list[Seen]:
    """Each instance observed; the readiness probes side by side (a pass costs one probe's
    time, not one per instance)."""

    def seen(look: Look, probe: bool) -> Seen:
        return observe(look.pgid, look.instance_id, look.address, look.readiness, probe)

    probed = [look for look in looks if look.probe and look.address]
    with ThreadPoolExecutor(min(16, len(probed) or 1)) as pool:
        answers = dict(
            zip((id(k) for k in probed), pool.map(lambda k: seen(k, True), probed), strict=True)
        )
    return [answers.get(id(look)) or seen(look, False) for look in looks]


def stop(pgid: int, instance_id: str, signal_number: int) -> None:
    if belongs(pgid, instance_id):
        kill_group(pgid, signal_number)


def kill(pgid: int, instance_id: str) -> None:
    if belongs(pgid, instance_id):
        kill_group(pgid, signal.SIGKILL)


def sweep(fleet: Path, keep: set[str]) -> list[str]:
    """Stop processes of this fleet whose instance id is not in `keep`; their ids."""
    return _stop_instances(lambda found: found == str(fleet), keep)


def sweep_below(root: Path) -> list[str]:
    """Stop the instances of every fleet kept below `root` (a state directory that is gone,
    so no record of them is left); their ids."""
    return _stop_instances(lambda found: found.startswith(f"{root}{os.sep}"), set())


def _stop_instances(fleet_wanted: Callable[[str], bool], keep: set[str]) -> list[str]:
    stopped = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        fleets = [v[len(b"LOCKGATE_FLEET=") :] for v in environ if v.startswith(b"LOCKGATE_FLEET=")]
        if not fleets or not fleet_wanted(fleets[0].decode(errors="replace")):
            continue
        prefix = b"LOCKGATE_INSTANCE_ID="
        ids = [v.removeprefix(prefix).decode() for v in environ if v.startswith(prefix)]
        if ids and ids[0] not in keep:
            with contextlib.suppress(ProcessLookupError):
                kill_group(os.getpgid(int(entry.name)))
            stopped.append(ids[0])
    return sorted(set(stopped))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return True
