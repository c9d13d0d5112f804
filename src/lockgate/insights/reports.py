"""Each insight over a window of the store: what the CLI prints and the server's API serves.
`repository` (a git checkout) adds what only it knows: CODEOWNERS and lockgate.yml owners for
the gate ledger, commit times for lead time; the server, which keeps none, goes without."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..store import Store
from ..store.deployments import DeploymentRecords
from ..store.testresults import TestRecords, run_timings
from ..testresults.flaky import (
    WINDOW,
    FlakyTest,
    TestRecord,
    flaky_tests,
    infrastructure_failures,
    overview,
)
from ..workflow.project import load_project
from .changes import changes
from .dora import DAY, FIX_WINDOW, Metric, dora
from .gates import Gate, ledger
from .owners import codeowners, owner_of
from .slow import WINDOW as SLOW_WINDOW
from .slow import Durations, OverBudget, over_budget, slow_jobs, slow_tests


@dataclass(frozen=True)
class SlowReport:
    tests: list[Durations]
    jobs: list[Durations]
    over_budget: list[OverBudget]
    budget: float
    commits: dict[int, str]  # run id -> its commit, for "slower since"


def _since(days: float) -> float:
    return time.time() - days * DAY


def tests_report(store: Store, days: float) -> list[TestRecord]:
    return overview(TestRecords(store).since(_since(days)))


def flaky_report(store: Store, days: float, window: int = WINDOW) -> list[FlakyTest]:
    return flaky_tests(TestRecords(store).since(_since(days)), window)


def slow_report(store: Store, days: float, budget: float, top: int) -> SlowReport:
    since = _since(days)
    results, runs = TestRecords(store).since(since), run_timings(store, since)
    return SlowReport(
        slow_tests(results, SLOW_WINDOW)[:top],
        slow_jobs(runs, SLOW_WINDOW)[:top],
        over_budget(runs, results, budget),
        budget,
        {run.run_id: run.sha for run in runs},
    )


def gates_report(store: Store, days: float, repository: Path | None) -> list[Gate]:
    since = _since(days)
    runs = run_timings(store, since)
    infrastructure = infrastructure_failures(TestRecords(store).since(since))
    owners: dict[str, str | None] = {}
    if repository is not None:
        rules, entries = load_project(repository), codeowners(repository)
        for run in runs:
            for job in run.jobs:
                owners[job.job_id] = rules.rules(job.job_id).owner or owner_of(
                    run.workflow, entries
                )
    return ledger(runs, infrastructure, owners, days)


def dora_report(
    store: Store,
    days: float,
    repository: Path | None,
    environment: str | None = None,
    app: str | None = None,
    fix_window: float = FIX_WINDOW,
) -> list[Metric]:
    records = DeploymentRecords(store)
    since = _since(days)
    chosen = [
        d
        for d in records.since(since)
        if (environment is None or d.environment == environment) and (app is None or d.app == app)
    ]
    incidents = [
        i for i in records.incidents(since) if environment is None or i.environment == environment
    ]
    shipped = changes(repository, chosen) if repository is not None else {}
    return dora(chosen, incidents, shipped, days, fix_window)
