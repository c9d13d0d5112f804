"""Slow tests and jobs, and runs over the pipeline's budget.

Durations per test and per job over their last `window` results (p50, p95, and the series for
a sparkline). A test that became slower is tied to the run where its durations stepped up (the
split of its series that best separates a slower tail from the rest), and so to a commit. A run
over the budget shows its critical path: from the job that finished last, back through the job
each was waiting on (the one that finished last before it started), with their slowest tests.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ..common.stats import percentile
from ..store.testresults import JobTiming, RunTiming, TestResult

WINDOW = 20
STEP_UP = 1.5  # a tail this many times slower than the head: it became slower
MIN_STEP = 0.1  # ...and slower by at least this many seconds (less is the timer's jitter)
MIN_SIDE = 3  # results on each side of a split


@dataclass(frozen=True)
class Durations:
    name: str
    p50: float
    p95: float
    samples: tuple[float, ...]  # oldest first
    slower_since: int | None  # the run where it stepped up, when it did


@dataclass(frozen=True)
class OverBudget:
    run_id: int
    sha: str
    seconds: float
    critical_path: tuple[str, ...]  # job keys, first to last
    slowest_tests: tuple[tuple[str, float], ...]


def step_up(samples: Sequence[float], runs: Sequence[int]) -> int | None:
    """The run where the series became lastingly slower, if it did: the split that leaves
    the least spread on either side (a change point), when its tail is STEP_UP times and
    MIN_STEP seconds slower than its head."""

    def spread(part: Sequence[float]) -> float:
        mean = statistics.fmean(part)
        return sum((v - mean) ** 2 for v in part)

    splits = range(MIN_SIDE, len(samples) - MIN_SIDE + 1)
    if not splits:
        return None
    split = min(splits, key=lambda k: spread(samples[:k]) + spread(samples[k:]))
    head, tail = statistics.median(samples[:split]), statistics.median(samples[split:])
    # A head of 0.0 s (a report's rounding) is compared by the absolute step alone.
    return runs[split] if tail - head >= MIN_STEP and tail >= STEP_UP * head else None


def _durations(name: str, series: Sequence[tuple[int, float]], window: int) -> Durations:
    recent = series[-window:]
    samples = [seconds for _, seconds in recent]
    return Durations(
        name,
        percentile(samples, 50),
        percentile(samples, 95),
        tuple(samples),
        step_up(samples, [run for run, _ in recent]),
    )


def slow_tests(results: Sequence[TestResult], window: int = WINDOW) -> list[Durations]:
    """Every test's durations, slowest p95 first (skipped results left out)."""
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for result in results:
        if result.outcome != "skipped":
            series[result.test].append((result.run_id, result.duration))
    found = [_durations(test, values, window) for test, values in series.items()]
    return sorted(found, key=lambda d: (-d.p95, d.name))


def slow_jobs(runs: Sequence[RunTiming], window: int = WINDOW) -> list[Durations]:
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for run in runs:
        for job in run.jobs:
            series[job.job_id].append((run.run_id, job.finished - job.started))
    found = [_durations(job, values, window) for job, values in series.items()]
    return sorted(found, key=lambda d: (-d.p95, d.name))


def critical_path(jobs: Sequence[JobTiming]) -> list[JobTiming]:
    """From the job that finished last back through what each waited on."""
    if not jobs:
        return []
    path = [max(jobs, key=lambda j: j.finished)]
    while True:
        before = [j for j in jobs if j.finished <= path[-1].started + 0.5 and j not in path]
        if not before:
            return path[::-1]
        path.append(max(before, key=lambda j: j.finished))


def over_budget(
    runs: Sequence[RunTiming], results: Sequence[TestResult], budget: float
) -> list[OverBudget]:
    """Runs longer than `budget` seconds, newest first, with their critical path and the
    slowest tests of the jobs on it."""
    tests: dict[int, list[TestResult]] = defaultdict(list)
    for result in results:
        tests[result.job_row].append(result)
    found = []
    for run in runs:
        seconds = run.finished - run.started
        if seconds <= budget:
            continue
        path = critical_path(run.jobs)
        on_path = [r for job in path for r in tests.get(job.job_row, [])]
        slowest = sorted(on_path, key=lambda r: -r.duration)[:5]
        found.append(
            OverBudget(
                run.run_id,
                run.sha,
                seconds,
                tuple(j.key for j in path),
                tuple((r.test, r.duration) for r in slowest),
            )
        )
    return found[::-1]
