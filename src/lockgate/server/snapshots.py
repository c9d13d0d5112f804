"""The insights page's figures, computed off the request path. Reading a month of runs and test
results takes longer than a page may (300 ms with 10,000 runs), and the figures change slowly:
the page shows the last snapshot, says when it was taken, and a request for one older than
MAX_AGE starts a fresh one in the background. The API computes afresh on every call."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ..insights import reports
from ..insights.dora import Metric
from ..insights.gates import Gate
from ..store import Store
from ..testresults.flaky import FlakyTest

MAX_AGE = 60.0  # seconds


@dataclass(frozen=True)
class InsightsSnapshot:
    days: float
    taken_at: float
    flaky: list[FlakyTest]
    slow: reports.SlowReport
    gates: list[Gate]
    dora: list[Metric]


class InsightsSnapshots:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.taken: dict[float, InsightsSnapshot] = {}
        self.computing: set[float] = set()

    def latest(self, days: float) -> InsightsSnapshot | None:
        """The newest snapshot for `days` (None before the first is ready); a stale or
        missing one is refreshed in the background."""
        with self.lock:
            found = self.taken.get(days)
            stale = found is None or time.time() - found.taken_at > MAX_AGE
            if stale and days not in self.computing:
                self.computing.add(days)
                threading.Thread(target=self._take, args=(days,), daemon=True).start()
        return found

    def _take(self, days: float) -> None:
        try:
            snapshot = InsightsSnapshot(
                days,
                time.time(),
                reports.flaky_report(self.store, days, 50),
                reports.slow_report(self.store, days, 600.0, 10),
                reports.gates_report(self.store, days, None),  # no checkout here: no owners
                reports.dora_report(self.store, days, None, None, None),
            )
            with self.lock:
                self.taken[days] = snapshot
        finally:
            with self.lock:
                self.computing.discard(days)
