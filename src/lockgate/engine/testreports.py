"""What a step's test reports mean for its job: the JUnit files it wrote, read per test; whether
its failure came from quarantined tests alone (then it passes, and says so); and the job
summary's test section, failures first and every quarantine it touched named."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..store.testresults import Quarantine, TestResult
from ..testresults import junit
from ..testresults.flaky import flaky_tests
from ..testresults.junit import Outcome, TestCase
from ..workflow.project import QuarantinePolicy

SHOWN_FAILURES = 20
POLICY_DAYS = 30  # the history a quarantine policy judges a test by


@dataclass(frozen=True)
class StepTests:
    failed: tuple[str, ...]  # the tests that failed in the step's reports
    excused: bool  # its failure came from quarantined tests alone


def day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def read(
    workspace: Path, since: float, patterns: Sequence[str]
) -> tuple[list[TestCase], list[str]]:
    """The test cases of reports written since `since`, and why any report could not be read."""
    cases: list[TestCase] = []
    unreadable: list[str] = []
    for path in junit.find(workspace, since, patterns):
        try:
            cases += junit.parse(path)
        except junit.NotAReport as exc:
            unreadable.append(f"test report skipped: {exc}")
    return cases, unreadable


def failed(cases: Sequence[TestCase]) -> list[TestCase]:
    return [c for c in cases if c.outcome in (Outcome.FAILED, Outcome.ERROR)]


def excused(cases: Sequence[TestCase], held: Mapping[str, Quarantine]) -> list[Quarantine]:
    """The quarantines that account for every failed test; empty when nothing failed or a
    failure is not quarantined (then the step fails as it did)."""
    failures = failed(cases)
    if not failures or any(c.id not in held for c in failures):
        return []
    return [held[c.id] for c in failures]


def by_policy(
    history: Sequence[TestResult], policy: QuarantinePolicy, now: float
) -> list[Quarantine]:
    """The quarantines the policy asks for: tests proven flaky at its rate or more."""
    return [
        Quarantine(
            test=flaky.test,
            owner=policy.owner,
            reason=f"flaky in {flaky.rate:.0%} of its last {flaky.results} results (policy)",
            since=now,
            until=now + policy.days * 86400,
            by="policy",
        )
        for flaky in flaky_tests(history)
        if flaky.rate >= policy.flake_rate
    ]


def summary(cases: Sequence[TestCase], held: Mapping[str, Quarantine], step: str) -> str:
    """Markdown for the job summary: counts, failed tests first, then every quarantine in
    force (marked where the step ran the test)."""
    counts = {o: sum(1 for c in cases if c.outcome == o) for o in Outcome}
    lines = [
        f"### Tests ({step}): {counts[Outcome.PASSED]} passed, "
        f"{counts[Outcome.FAILED] + counts[Outcome.ERROR]} failed, "
        f"{counts[Outcome.SKIPPED]} skipped",
        "",
    ]
    failures = failed(cases)
    for case in failures[:SHOWN_FAILURES]:
        said = (case.message or "").splitlines()[0][:200] if case.message else ""
        mark = " (quarantined)" if case.id in held else ""
        lines.append(f"- FAILED `{case.id}`{mark}{': ' + said if said else ''}")
    if len(failures) > SHOWN_FAILURES:
        lines.append(f"- ... and {len(failures) - SHOWN_FAILURES} more (`lockgate tests RUN`)")
    if held:  # every quarantine, each time: none goes silent
        ran = {c.id for c in cases}
        lines += ["", "Quarantined tests (their failures do not fail the job):"]
        for test, entry in sorted(held.items()):
            until = f" until {day(entry.until)}" if entry.until else ""
            here = " (ran here)" if test in ran else ""
            lines.append(f"- `{test}`{here}: owner {entry.owner}{until} ({entry.reason})")
    return "\n".join(lines) + "\n"
