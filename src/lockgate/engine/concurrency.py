"""`concurrency:` groups, across the jobs of a run and across lockgate processes on one machine.

GitHub's rule: a group has at most one run (or job) in progress and one pending. A newer entry
replaces the pending one, which is cancelled; with `cancel-in-progress` it also cancels the one
in progress. Processes coordinate through three files per group in a directory that belongs to
the store (`groups_dir`), so every run writing to one store on this machine shares its groups:
the CLI's and `lockgate serve`'s workers alike. Per group: an flock held by the entry in
progress (the kernel drops it if that process dies), `pending` naming the entry that waits,
and `cancel` naming the holder a newcomer asked to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from ..common.userdirs import cache_dir

POLL_SECONDS = 0.05


def groups_dir(store_url: str) -> Path:
    """Where the groups of runs that write to this store live: beside an SQLite file, else
    in the user's cache, one directory per store URL."""
    if store_url.startswith("sqlite:///"):
        database = Path(store_url.removeprefix("sqlite:///"))
        return database.with_name(database.name + ".concurrency")
    return cache_dir("concurrency", hashlib.sha256(store_url.encode()).hexdigest()[:16])


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, text: str) -> None:
    """Replace the file atomically, so a reader sees the old token or the new one."""
    temp = path.with_name(f"{path.name}.{uuid.uuid4().hex}")
    temp.write_text(text)
    os.replace(temp, path)


class Slot:
    """An entry's place in one group; `wait` makes it the one in progress."""

    def __init__(self, root: Path, group: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        base = root / hashlib.sha256(group.encode()).hexdigest()[:32]
        self.lock = base.with_suffix(".lock")
        self.pending = base.with_suffix(".pending")
        self.holder = base.with_suffix(".holder")
        self.cancel = base.with_suffix(".cancel")
        self.token = uuid.uuid4().hex
        self.fd: int | None = None
        self.watcher: asyncio.Task[None] | None = None

    async def wait(self, cancel_in_progress: bool, on_waiting: Callable[[], None]) -> bool:
        """Block until this entry is in progress; False when a newer entry superseded it."""
        _write(self.pending, self.token)
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
        asked_to_stop = ""
        told_waiting = False
        try:
            while True:
                if _read(self.pending) != self.token:
                    os.close(fd)
                    return False
                if cancel_in_progress:
                    holder = _read(self.holder)
                    if holder and holder != asked_to_stop:
                        _write(self.cancel, holder)
                        asked_to_stop = holder
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    pass
                if not told_waiting:
                    on_waiting()
                    told_waiting = True
                await asyncio.sleep(POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        _write(self.holder, self.token)
        if _read(self.pending) == self.token:
            with contextlib.suppress(FileNotFoundError):
                self.pending.unlink()
        return True

    def watch(self, on_cancel: Callable[[], None]) -> None:
        """Call `on_cancel` once if a newer entry with cancel-in-progress asks this one to stop."""

        async def poll() -> None:
            while _read(self.cancel) != self.token:
                await asyncio.sleep(POLL_SECONDS)
            on_cancel()

        self.watcher = asyncio.ensure_future(poll())

    def release(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
        if self.fd is None:
            return
        if _read(self.holder) == self.token:
            with contextlib.suppress(FileNotFoundError):
                self.holder.unlink()
        os.close(self.fd)  # drops the flock
        self.fd = None
