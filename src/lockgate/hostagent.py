"""lockgate's agent on an SSH host: supervises the host's instances while no deploying
lockgate reaches the host, and stops what nothing there wants.

Each fleet on the host keeps a book, `desired.json`: every instance the deploying lockgate
started there (through lockgate.hostserver) with its launch, address and process group, and
whether it was asked to stop. Every second the agent, for each fleet with a book:
- stops the fleet's processes no entry wants (instances the deploying side let go while the
  host was unreachable, or whose start was interrupted);
- starts an instance that exited again, on its own address, with backoff, but only once no
  deploying lockgate has spoken to the host for CONTROLLER_AWAY seconds: while one does, that
  one supervises (it knows the router and the rollout), and two supervisors would race.

One agent per base directory (`agent.lock`, which names its pid and interpreter). It runs as a
systemd unit where systemd runs and lockgate is root there, detached otherwise; the host server
starts it whenever it finds none running, so the next command restarts a dead one. Standard
library only, like everything that runs on a host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import hostside
from .common.filelocks import held
from .common.processes import spawn_detached

BOOK = "desired.json"
CONTACT = ".contact"  # touched by every request of a deploying lockgate
LOCK = "agent.lock"
PERIOD = 1.0
CONTROLLER_AWAY = 5.0
MAX_BACKOFF = 30.0


class BookUnreadable(Exception):
    """A fleet's book that is not what this module writes: nothing is swept on its word."""


@dataclass
class Entry:
    launch: hostside.Launch
    address: str
    pgid: int
    stopping: bool = False
    restarts: int = 0
    retry_at: float = 0.0

    def alive(self) -> bool:
        return hostside.alive(self.pgid, self.launch.instance_id)


def read_book(fleet: Path) -> dict[str, Entry]:
    try:
        raw = json.loads((fleet / BOOK).read_text())
        return {
            key: Entry(**{**value, "launch": hostside.Launch(**value["launch"])})
            for key, value in raw.items()
        }
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise BookUnreadable(f"{fleet / BOOK}: {exc}") from None


@contextlib.contextmanager
def book(fleet: Path) -> Iterator[dict[str, Entry]]:
    """The fleet's book under its lock, written back (whole, atomically) when it changed."""
    fleet.mkdir(parents=True, exist_ok=True)
    with (fleet / ".book.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = read_book(fleet)
        before = _dump(entries)
        yield entries
        after = _dump(entries)
        if after != before or not (fleet / BOOK).exists():
            temp = fleet / f".{BOOK}.{os.getpid()}"
            temp.write_text(after)
            os.replace(temp, fleet / BOOK)


def _dump(entries: dict[str, Entry]) -> str:
    return json.dumps({key: dataclasses.asdict(e) for key, e in entries.items()}, sort_keys=True)


# -- what the host server does for the deploying lockgate -------------------------------------
def start(launch: hostside.Launch) -> Entry:
    """Start an instance and book it (CannotStart when it cannot start); one that runs
    already (a request repeated after its answer was lost) is not started twice."""
    with book(Path(launch.fleet)) as entries:
        known = entries.get(launch.instance_id)
        if known is not None and not known.stopping and known.alive():
            return known
        process, address = hostside.start(launch)
        entries[launch.instance_id] = Entry(launch, address, process.pid)
        return entries[launch.instance_id]


def pgids(fleet: Path) -> dict[str, int]:
    """Each booked instance's process group now: the agent may have started it again since
    the deploying side recorded the one it knows."""
    with contextlib.suppress(BookUnreadable):
        return {key: entry.pgid for key, entry in read_book(fleet).items()}
    return {}


def stop(fleet: Path, instance_id: str, recorded: int, signal_number: int) -> None:
    """Ask it to stop; the agent will not start it again."""
    with book(fleet) as entries:
        entry = entries.get(instance_id)
        if entry is not None:
            entry.stopping = True
        hostside.stop(entry.pgid if entry else recorded, instance_id, signal_number)


def kill(fleet: Path, instance_id: str, recorded: int) -> None:
    with book(fleet) as entries:
        entry = entries.pop(instance_id, None)
        hostside.kill(entry.pgid if entry else recorded, instance_id)


def sweep(fleet: Path, keep: set[str]) -> list[str]:
    """Only `keep` stays booked and running; the ids of what was stopped."""
    with book(fleet) as entries:
        for instance_id in set(entries) - keep:
            del entries[instance_id]
        return hostside.sweep(fleet, keep)


def contact(base: Path) -> None:
    (base / CONTACT).touch()


# -- the agent ---------------------------------------------------------------------------------
def tend(base: Path, now: float, say: Callable[[str], None]) -> None:
    """One pass over every booked fleet of the host."""
    try:
        away = now - (base / CONTACT).stat().st_mtime >= CONTROLLER_AWAY
    except FileNotFoundError:
        away = True
    for fleet in sorted((base / "fleet").glob("*")):
        if not (fleet / BOOK).is_file():
            continue  # nothing booked: nothing is known to be unwanted
        try:
            with book(fleet) as entries:
                for instance_id in hostside.sweep(fleet, set(entries)):
                    say(f"{fleet.name}: stopped instance {instance_id}: nothing wants it")
                for instance_id, entry in list(entries.items()):
                    if entry.alive():
                        continue
                    if entry.stopping:
                        del entries[instance_id]
                    elif away and now >= entry.retry_at:
                        _start_again(fleet.name, entry, now, say)
        except BookUnreadable as exc:
            say(f"{fleet.name}: left alone: {exc}")


def _start_again(fleet: str, entry: Entry, now: float, say: Callable[[str], None]) -> None:
    port = int(entry.address.rpartition(":")[2])
    entry.restarts += 1
    entry.retry_at = now + min(2.0 ** (entry.restarts - 1), MAX_BACKOFF)
    try:
        process, _ = hostside.start(dataclasses.replace(entry.launch, port=port))
    except hostside.CannotStart as exc:
        say(f"{fleet}: instance {entry.launch.slot} could not be started again: {exc}")
        return
    entry.pgid = process.pid
    say(f"{fleet}: instance {entry.launch.slot} exited; started again (restart {entry.restarts})")


def reap() -> None:
    """Instances this agent started are its children: none is left a zombie."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def run(base: Path) -> int:
    """The agent's life: one pass a second until SIGTERM; 0 at once if one already runs."""
    base.mkdir(parents=True, exist_ok=True)
    base = base.resolve()
    with (base / LOCK).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        lock.truncate(0)
        lock.write(f"{os.getpid()} {sys.executable}\n")
        lock.flush()
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())

        def say(text: str) -> None:
            print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}", flush=True)

        say(f"agent started for {base}")
        while not stopping.is_set() and base.is_dir():  # a removed base: nothing to keep
            reap()
            tend(base, time.time(), say)
            stopping.wait(PERIOD)
    return 0


# -- keeping one running -------------------------------------------------------------------
def ensure_running(base: Path) -> None:
    """Start this interpreter's agent for `base` unless it runs; an agent of another
    lockgate (an older install) is stopped first."""
    lock = base / LOCK
    if held(lock):
        pid, _, python = lock.read_text().strip().partition(" ")
        if python == sys.executable or not pid.isdigit():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)
        deadline = time.monotonic() + 10
        while held(lock) and time.monotonic() < deadline:
            time.sleep(0.05)
    if not _as_unit(base):
        spawn_detached([sys.executable, "-m", "lockgate.hostagent", str(base)], base / "agent.log")


UNIT = """[Unit]
Description=lockgate agent for {base}
After=network.target

[Service]
ExecStart={python} -m lockgate.hostagent {base}
Restart=always
RestartSec=2
KillMode=process

[Install]
WantedBy=multi-user.target
"""


def _as_unit(base: Path) -> bool:
    """Run the agent as a systemd unit (KillMode=process: restarting the agent leaves the
    instances running); False where systemd does not run or lockgate is not root."""
    if not Path("/run/systemd/system").is_dir() or os.geteuid() != 0:
        return False
    if shutil.which("systemctl") is None:
        return False
    name = f"lockgate-agent-{hashlib.sha256(str(base).encode()).hexdigest()[:12]}"
    unit = Path("/etc/systemd/system") / f"{name}.service"
    text = UNIT.format(base=base, python=sys.executable)
    try:
        if not unit.exists() or unit.read_text() != text:
            unit.write_text(text)
            subprocess.run(["systemctl", "daemon-reload"], check=True, capture_output=True)
        subprocess.run(
            ["systemctl", "enable", "--now", name], check=True, capture_output=True, timeout=30
        )
        subprocess.run(["systemctl", "restart", name], check=True, capture_output=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
