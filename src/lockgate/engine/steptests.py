"""The tests a step reported (JUnit XML it wrote): stored per test, quarantines applied (and
proposed by the project's policy), summed up in the job summary."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..store.testresults import TestResult
from . import testreports
from .context import RunContext
from .state import Annotation, JobRun, StepRun


def record_tests(
    run: RunContext,
    run_id: int,
    job: JobRun,
    workspace: Path,
    record: StepRun,
    outcome: str,
    failed_before: Mapping[str, int],
    annotate: Callable[[Annotation, StepRun | None], None],
) -> testreports.StepTests:
    """The JUnit reports the step wrote, stored per test (messages masked; a test that failed
    in earlier attempts of the step carries them as retries) and summed up in the job summary:
    which tests failed, and whether quarantines excuse the step's failure."""
    settings = run.project.tests
    since = record.started or 0.0  # (set when the step began)
    cases, unreadable = testreports.read(workspace, since, settings.reports)
    for text in unreadable:
        annotate(Annotation("warning", text), record)
    if not cases:
        return testreports.StepTests((), False)
    now = time.time()
    records = run.tests
    failing = {c.id for c in testreports.failed(cases)}
    found = [
        TestResult(
            run_id=run_id,
            job_row=job.row,
            job_id=job.job_id,
            tree=job.cache_key,
            test=case.id,
            file=case.file,
            outcome=case.outcome.value,
            duration=case.duration,
            retries=case.retries + failed_before.get(case.id, 0),
            quarantined=False,
            message=run.masker(case.message) if case.message else None,
            at=now,
        )
        for case in cases
    ]
    held = {q.test: q for q in records.quarantines() if q.active(now)}
    policy, judged = settings.quarantine, sorted(failing - set(held))
    if policy is not None and judged:  # proven flaky now: quarantined before it is judged
        history = records.of_tests(judged, now - testreports.POLICY_DAYS * 86400)
        mine = [r for r in found if r.test in judged]
        for entry in testreports.by_policy([*history, *mine], policy, now):
            records.quarantine(entry)
            held[entry.test] = entry
            annotate(Annotation("warning", f"quarantined {entry.test}: {entry.reason}"), None)
    excuses = testreports.excused(cases, held) if outcome == "failure" else []
    records.add([dataclasses.replace(r, quarantined=r.test in held and r.failed) for r in found])
    job.summary += run.masker(testreports.summary(cases, held, record.name))
    if settings.test_budget is not None:  # per-test budgets warn, never fail
        limit = float(settings.test_budget)
        for case in (c for c in cases if c.duration > limit):
            said = f"{case.id} took {case.duration:.1f}s, over the test budget of {limit:g}s"
            annotate(Annotation("warning", said), record)
    if excuses:
        names = ", ".join(sorted({q.test for q in excuses}))
        annotate(Annotation("warning", f"passed with quarantined failures: {names}"), record)
    return testreports.StepTests(tuple(sorted(failing)), bool(excuses))
