"""Flaky tests, on evidence: a test is flaky when it both passed and failed on the same tree
(the job's input digest: the same code and inputs), or failed and then passed on a retry.

A job where most of its tests failed is an infrastructure failure (a database that was down, a
full disk), not evidence against any one test, and is left out. Each flaky test has a flake
rate over its last `window` results and the runs that prove it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ..store.testresults import Quarantine, TestResult

WINDOW = 50
INFRA_SHARE = 0.5  # more than this share of a job's tests failed: infrastructure
INFRA_MIN_TESTS = 4  # ...in a job with at least this many tests


@dataclass(frozen=True)
class Evidence:
    kind: str  # "same tree" | "passed on retry"
    tree: str | None
    passed_in: tuple[int, ...]  # run ids
    failed_in: tuple[int, ...]


@dataclass(frozen=True)
class FlakyTest:
    test: str
    rate: float  # share of its last results that failed or needed a retry
    results: int
    evidence: tuple[Evidence, ...]


def infrastructure_failures(results: Sequence[TestResult]) -> set[int]:
    """Job rows where most tests failed."""
    total: dict[int, int] = defaultdict(int)
    failed: dict[int, int] = defaultdict(int)
    for result in results:
        total[result.job_row] += 1
        failed[result.job_row] += result.failed
    return {
        job
        for job, count in total.items()
        if count >= INFRA_MIN_TESTS and failed[job] / count > INFRA_SHARE
    }


def flaky_tests(results: Sequence[TestResult], window: int = WINDOW) -> list[FlakyTest]:
    """Every test with evidence of flakiness, highest flake rate first."""
    infra = infrastructure_failures(results)
    by_test: dict[str, list[TestResult]] = defaultdict(list)
    for result in results:
        if result.job_row not in infra and result.outcome != "skipped":
            by_test[result.test].append(result)
    found = []
    for test, history in by_test.items():
        recent = history[-window:]
        evidence = _evidence(recent)
        if not evidence:
            continue
        shaky = sum(1 for r in recent if r.failed or r.retries)
        found.append(FlakyTest(test, shaky / len(recent), len(recent), tuple(evidence)))
    return sorted(found, key=lambda f: (-f.rate, f.test))


def _evidence(history: Sequence[TestResult]) -> list[Evidence]:
    by_tree: dict[str, list[TestResult]] = defaultdict(list)
    for result in history:
        if result.tree is not None:
            by_tree[result.tree].append(result)
    found = []
    for tree, results in by_tree.items():
        passed = tuple(sorted({r.run_id for r in results if not r.failed}))
        failed = tuple(sorted({r.run_id for r in results if r.failed}))
        if passed and failed:
            found.append(Evidence("same tree", tree, passed, failed))
    for result in history:
        if result.retries and not result.failed:
            found.append(Evidence("passed on retry", result.tree, (result.run_id,), ()))
    return found


TREES_TO_RELEASE = 3


@dataclass(frozen=True)
class TestRecord:
    """A test over a window: how often it ran, failed and needed a retry, and how it last did."""

    __test__ = False  # (not a pytest test class)
    test: str
    runs: int
    failures: int
    retried: int
    last: str  # its last outcome
    history: str  # its recent outcomes, oldest first: . passed, F failed, R passed on retry


def overview(results: Sequence[TestResult], window: int = 30) -> list[TestRecord]:
    """Every test that ran, the most failing first."""
    by_test: dict[str, list[TestResult]] = defaultdict(list)
    for result in results:
        if result.outcome != "skipped":
            by_test[result.test].append(result)
    found = [
        TestRecord(
            test,
            len(history),
            sum(r.failed for r in history),
            sum(1 for r in history if r.retries and not r.failed),
            history[-1].outcome,
            "".join("F" if r.failed else ("R" if r.retries else ".") for r in history[-window:]),
        )
        for test, history in by_test.items()
    ]
    return sorted(found, key=lambda t: (-t.failures / t.runs, -t.runs, t.test))


def clean_streak(results: Sequence[TestResult]) -> tuple[int, int]:
    """The latest run of clean results (passed, no retry), oldest first in `results`: how
    many, and on how many trees."""
    streak: list[TestResult] = []
    for result in reversed(results):
        if result.failed or result.retries:
            break
        if result.outcome == "passed":
            streak.append(result)
    return len(streak), len({r.tree for r in streak})


@dataclass(frozen=True)
class Standing:
    """A quarantine and how its test has done since."""

    quarantine: Quarantine
    expired: bool
    clean_runs: int  # passed in a row, most recently
    trees: int  # ...on this many trees
    release_proposed: bool  # clean `release-after` times on TREES_TO_RELEASE trees or more


def standing(
    quarantine: Quarantine, results: Sequence[TestResult], clean_runs: int, now: float
) -> Standing:
    """`results`: the test's, since the quarantine began, oldest first."""
    runs, trees = clean_streak(results)
    proposed = runs >= clean_runs and trees >= TREES_TO_RELEASE
    return Standing(quarantine, not quarantine.active(now), runs, trees, proposed)
