"""`concurrency:` groups, across the jobs of a run and across every run writing to one store,
on any machine (the store keeps them: `store/concurrency.py`).

GitHub's rule: a group has at most one run (or job) in progress and one pending. A newer entry
replaces the pending one, which is cancelled; with `cancel-in-progress` it also cancels the one
in progress. The entry in progress renews a lease while it runs; one whose process died (on
this machine: at once; elsewhere: when its lease runs out) no longer holds the group.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from ..store import Store
from ..store.concurrency import LEASE, ConcurrencyGroups

POLL_SECONDS = 0.1  # between looks while waiting, and for a cancel while in progress


class Slot:
    """An entry's place in one group; `wait` makes it the one in progress."""

    def __init__(self, store: Store, group: str) -> None:
        self.groups, self.group = ConcurrencyGroups(store), group
        self.token = uuid.uuid4().hex
        self.held = False
        self.watcher: asyncio.Task[None] | None = None

    async def wait(self, cancel_in_progress: bool, on_waiting: Callable[[], None]) -> bool:
        """Block until this entry is in progress; False when a newer entry superseded it."""
        groups, group = self.groups, self.group
        groups.ask(group, self.token)
        asked_to_stop, told_waiting = "", False
        while True:
            state = groups.state(group)
            if state is None or state.pending != self.token:
                return False
            gone = state.holder if state.holder_gone(time.time()) else None
            if groups.take(group, self.token, gone):
                self.held = True
                return True
            if cancel_in_progress and state.holder and state.holder != asked_to_stop:
                groups.ask_to_stop(group, state.holder)
                asked_to_stop = state.holder
            if not told_waiting:
                on_waiting()
                told_waiting = True
            await asyncio.sleep(POLL_SECONDS)

    def watch(self, on_cancel: Callable[[], None]) -> None:
        """Keep the lease, and call `on_cancel` once if a newer entry with cancel-in-progress
        asks this one to stop."""

        async def poll() -> None:
            renewed = time.monotonic()
            while True:
                await asyncio.sleep(POLL_SECONDS)
                state = self.groups.state(self.group)
                if state is not None and state.cancel == self.token:
                    on_cancel()
                    return
                if time.monotonic() - renewed > LEASE / 3:
                    self.groups.renew(self.group, self.token)
                    renewed = time.monotonic()

        self.watcher = asyncio.ensure_future(poll())

    def release(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
        if self.held:
            self.groups.release(self.group, self.token)
            self.held = False
