"""A worker takes queued runs one at a time: it fetches the commit from the trigger's
repository into a fresh workspace and runs `lockgate run EVENT` there, writing to the server's
store. It is given a queued run and reports how it ended; it needs nothing of the server but
the store's URL, so workers on other machines fit the same interface later."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from ..store import Store
from ..store.queue import Queue, QueuedRun, Trigger
from .statuses import Forge, Status, report, state_of

IDLE = 0.5  # seconds between looks at an empty queue
PR_SET_PDEATHSIG = 1
# Where code may be fetched from: a URL of these schemes, an absolute path, or user@host:path.
# Never a string git would read as an option, nor its ext:: / fd:: helpers that run commands.
SOURCE = re.compile(r"^((https?|ssh|git|file)://[^\s]+|/[^\s]*|[\w.-]+@[\w.-]+:[\w./~-]+)$")
REF = r"refs/[^\s~^:?*\[\\]+"  # what git check-ref-format allows, near enough
COMMIT = re.compile(rf"^([0-9a-f]{{7,64}}|{REF})$")
GIT_ENV = {"GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh", "GIT_TERMINAL_PROMPT": "0"}


def unsafe(trigger: Trigger) -> str | None:
    """Why the trigger's repository, ref or commit cannot be handed to git, if it cannot."""
    if not SOURCE.match(trigger.repository):
        return f"refused to fetch from {trigger.repository!r}: not a URL, path or user@host:path"
    if not COMMIT.match(trigger.after) or not COMMIT.match(trigger.ref) or ".." in trigger.ref:
        return f"refused: {trigger.ref!r} at {trigger.after!r} is not a ref and a commit"
    return None


def _die_with_parent() -> None:
    """A run outlives no server: it gets SIGTERM (and cancels its jobs) when its server dies,
    and the item is taken again after the restart."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Worker:
    def __init__(
        self,
        store_url: str,
        home: Path,
        number: int,
        stop: threading.Event,
        forges: dict[str, Forge],
        public_url: str,
    ) -> None:
        self.store_url, self.home, self.stop = store_url, home, stop
        self.forges, self.public_url = forges, public_url.rstrip("/")
        self.name = f"{socket.gethostname()}:{os.getpid()}/{number}"
        self.queue = Queue(Store(store_url))

    def loop(self) -> None:
        while not self.stop.is_set():
            item = self.queue.claim(self.name)
            if item is None:
                self.stop.wait(IDLE)
                continue
            self.tell(item, "pending", "running")
            code, said = self.take(item)
            self.queue.finish(item.id, code, said)
            self.tell(item, state_of(code), said or f"lockgate run exited {code}")

    def tell(self, item: QueuedRun, state: str, description: str) -> None:
        """The commit's status on its forge, when one is configured for the trigger's source."""
        forge = self.forges.get(item.trigger.source)
        if forge is not None:
            link = f"{self.public_url}/api/v1/queue/{item.id}"
            failed = report(forge, item.trigger, Status(state, link, description[:140]))
            if failed:
                print(f"queued run {item.id}: {failed}", flush=True)

    def take(self, item: QueuedRun) -> tuple[int, str | None]:
        """Run it; (exit code, what went wrong in a line or None)."""
        trigger = item.trigger
        refused = unsafe(trigger)
        if refused:
            return 2, refused
        where = self.home / "workspaces" / str(item.id)
        shutil.rmtree(where, ignore_errors=True)
        checkout = where / "checkout"
        checkout.mkdir(parents=True)
        fetched = _git(checkout, "init", "-q") or _git(
            checkout, "fetch", "-q", "--no-tags", trigger.repository,
            f"+{trigger.ref}:refs/lockgate/trigger",
        )  # fmt: skip
        branch = trigger.ref.removeprefix("refs/heads/")
        fetched = fetched or (
            _git(checkout, "checkout", "-q", "-B", branch, trigger.after)
            if trigger.ref.startswith("refs/heads/")
            else _git(checkout, "checkout", "-q", "--detach", trigger.after)
        )
        if fetched:
            return 2, f"cannot fetch {trigger.ref} from {trigger.repository}: {fetched}"
        event = where / "event.json"
        event.write_text(json.dumps(trigger.payload))
        done = subprocess.run(
            [sys.executable, "-m", "lockgate", "run", trigger.event, "-e", str(event),
             "-C", str(checkout)],
            env={**os.environ, "LOCKGATE_DB": self.store_url, "LOCKGATE_DAEMON": "0"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent,
            check=False,
        )  # fmt: skip
        said = done.stderr.strip().splitlines()[-1:] if done.returncode not in (0, 1) else []
        shutil.rmtree(where, ignore_errors=True)
        return done.returncode, said[0][:500] if said else None


def _git(where: Path, *args: str) -> str | None:
    """None when git succeeded, else the last line it said."""
    done = subprocess.run(
        ["git", "-C", str(where), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **GIT_ENV},
    )
    if done.returncode == 0:
        return None
    return (done.stderr.strip().splitlines() or [f"git exited {done.returncode}"])[-1]
