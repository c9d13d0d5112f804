"""The flags' revision, watched while someone listens: one store query a POLL for all the
connected SDKs together (a change may come from any process: the CLI, GitOps, another
server), and each listener woken when it changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

POLL = 0.1  # seconds between reads of the revision while anyone listens
KEEPALIVE = 15.0  # a comment this often keeps proxies from closing a quiet stream


class RevisionFeed:
    def __init__(self, read: Callable[[], int]) -> None:
        self.read = read
        self.revision: int | None = None
        self.changed = asyncio.Event()
        self.listeners = 0
        self.watcher: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while self.listeners:
            now = await asyncio.to_thread(self.read)
            if now != self.revision:
                self.revision = now
                woken, self.changed = self.changed, asyncio.Event()
                woken.set()
            await asyncio.sleep(POLL)
        self.watcher = None

    async def revisions(self) -> AsyncIterator[int | None]:
        """The revision now, then each new one; None now and then to keep the stream open."""
        self.listeners += 1
        if self.watcher is None:
            self.watcher = asyncio.create_task(self._watch())
        seen = None
        try:
            while True:
                if self.revision is not None and self.revision != seen:
                    seen = self.revision
                    yield seen
                    continue
                try:
                    await asyncio.wait_for(self.changed.wait(), KEEPALIVE)
                except TimeoutError:
                    yield None
        finally:
            self.listeners -= 1
