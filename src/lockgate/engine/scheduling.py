"""Fastest-first: when more jobs are ready than may run, start the one likely to fail soonest.

A job's score is its failure rate over its median duration (from the store's history of the
workflow): a job that fails often and quickly goes first, so a red pipeline turns red early.
Jobs without history score 0 and keep the order of the workflow file.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import statistics
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobStats:
    runs: int
    failures: int
    median_seconds: float

    @property
    def score(self) -> float:
        if not self.runs:
            return 0.0
        return (self.failures / self.runs) / max(self.median_seconds, 0.1)

    def describe(self) -> str:
        if not self.runs:
            return "no history"
        return (
            f"failed {self.failures} of last {self.runs}, "
            f"median {self.median_seconds:.1f}s, score {self.score:.3f}"
        )


def job_stats(history: dict[str, list[tuple[str, float]]]) -> dict[str, JobStats]:
    return {
        job_id: JobStats(
            len(runs),
            sum(1 for conclusion, _ in runs if conclusion == "failure"),
            statistics.median(seconds for _, seconds in runs),
        )
        for job_id, runs in history.items()
        if runs
    }


def fastest_first(job_ids: Iterable[str], stats: dict[str, JobStats]) -> list[str]:
    """`job_ids` (in file order) in the order lockgate starts them when they are all ready."""
    ordered = list(job_ids)
    none = JobStats(0, 0, 0.0)
    return sorted(ordered, key=lambda j: (-stats.get(j, none).score, ordered.index(j)))


class Slots:
    """At most `size` jobs run at once; a freed slot goes to the best-ranked waiting job.

    Slots are handed out one loop iteration later than asked for, so that every job made ready
    by the same event competes for them, not just the first one to ask.
    """

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiting: list[tuple[tuple[float, int], int, asyncio.Future[None]]] = []
        self.counter = 0
        self.dispatching = False

    @contextlib.asynccontextmanager
    async def hold(self, rank: tuple[float, int]) -> AsyncIterator[None]:
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.counter += 1
        heapq.heappush(self.waiting, (rank, self.counter, granted))
        self._dispatch_soon()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # the slot arrived together with the cancellation
            raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        self.free += 1
        self._dispatch_soon()

    def _dispatch_soon(self) -> None:
        if not self.dispatching:
            self.dispatching = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self.dispatching = False
        while self.free and self.waiting:
            _, _, granted = heapq.heappop(self.waiting)
            if granted.done():  # its job was cancelled while it waited
                continue
            granted.set_result(None)
            self.free -= 1
