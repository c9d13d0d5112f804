"""`lockgate tests RUN | quarantine | release | quarantined`, `lockgate insights flaky | slow |
gates | dora` and `lockgate incident open | resolve`: test results and deployments as
recorded, and what their history says."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from ..common.errors import UserError
from ..insights.dora import DAY, FIX_WINDOW
from ..insights.reports import (
    dora_report,
    flaky_report,
    gates_report,
    slow_report,
    tests_report,
)
from ..store.deployments import DeploymentRecords
from ..store.testresults import Quarantine, TestRecords
from ..testresults.flaky import WINDOW as FLAKY_WINDOW
from ..testresults.flaky import standing
from ..workflow.project import load_project, parse_duration
from .options import DbOpt, OutputOpt, RepoOpt, open_store


class _RunOrCommand(TyperGroup):
    """`lockgate tests 12` is `lockgate tests show 12`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0].isdigit():
            args = ["show", *args]
        return super().parse_args(ctx, args)


tests_app = typer.Typer(
    cls=_RunOrCommand,
    help="Test results (lockgate tests RUN) and quarantines.",
    no_args_is_help=True,
)
insights_app = typer.Typer(
    help="Flaky and slow tests, and DORA metrics, from the recorded runs and deployments.",
    no_args_is_help=True,
)
incident_app = typer.Typer(help="Incidents in an environment (for DORA).", no_args_is_help=True)
DaysOpt = Annotated[float, typer.Option("--days", help="look this many days back")]
BARS = "▁▂▃▄▅▆▇█"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=lambda o: dataclasses.asdict(o)))


def sparkline(values: Sequence[float]) -> str:
    top = max(values, default=0.0)
    if top <= 0:
        return BARS[0] * len(values)
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1)))] for v in values)


def _day(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d") if at else "-"


@tests_app.command("show")
def show(
    run_id: Annotated[int, typer.Argument(help="run number (lockgate runs lists them)")],
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """The tests of a run, failures first.

    Example: lockgate tests show 12
    """
    store = open_store(db, repo)
    if store.get_run(run_id) is None:
        raise UserError(f"no run {run_id}", hint="see `lockgate runs` for run numbers")
    results = TestRecords(store).of_run(run_id)
    ordered = sorted(results, key=lambda r: (not r.failed, r.outcome == "skipped", r.test))
    if output == "json":
        _print_json(ordered)
        return
    console = Console(highlight=False, soft_wrap=True)
    if not results:
        console.print(f"run {run_id} recorded no test results (no JUnit XML report was found)")
        return
    failed = sum(r.failed for r in results)
    console.print(f"run {run_id}: {len(results) - failed} passed or skipped, {failed} failed")
    table = Table("outcome", "test", "job", "seconds", "message")
    for result in ordered:
        said = (result.message or "").splitlines()[0][:100] if result.message else ""
        mark = " (quarantined)" if result.quarantined else ""
        color = "red" if result.failed else ("dim" if result.outcome == "skipped" else "green")
        table.add_row(
            f"[{color}]{result.outcome}{mark}[/]",
            escape(result.test),
            escape(result.job_id),
            f"{result.duration:.2f}",
            escape(said),
        )
    console.print(table)


@tests_app.command("quarantine")
def quarantine(
    test: Annotated[str, typer.Argument(help="suite::name, as `lockgate tests show` names it")],
    owner: Annotated[str, typer.Option("--owner", help="who fixes it")],
    until: Annotated[
        str | None, typer.Option("--until", help="YYYY-MM-DD (UTC) it expires; default 30 days")
    ] = None,
    reason: Annotated[str, typer.Option("--reason")] = "flaky",
    repo: RepoOpt = Path("."),
    db: DbOpt = None,
) -> None:
    """Quarantine a test: it still runs and is recorded, but its failure no longer fails its
    job (the job passes with quarantined failures, and every summary lists it).

    Example: lockgate tests quarantine 'tests.test_api::test_retry' --owner ana --until 2026-12-31
    """
    now = time.time()
    if until is None:
        ends = now + 30 * 86400
    else:
        try:
            ends = datetime.strptime(until, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise UserError(
                f"{until!r} is not a date", where="--until", hint="YYYY-MM-DD"
            ) from None
        if ends <= now:
            raise UserError(f"{until} is past", where="--until", hint="give a later date")
    if not test.strip():
        raise UserError("the test name is empty", where="TEST")
    entry = Quarantine(test, owner, reason, now, ends, by=owner)
    TestRecords(open_store(db, repo)).quarantine(entry)
    Console(highlight=False).print(f"quarantined {escape(test)} until {_day(ends)} (owner {owner})")


@tests_app.command("release")
def release(
    test: Annotated[str, typer.Argument(help="a quarantined test")],
    repo: RepoOpt = Path("."),
    db: DbOpt = None,
) -> None:
    """End a test's quarantine: its failures fail its job again."""
    if not TestRecords(open_store(db, repo)).release(test):
        raise UserError(
            f"{test} is not quarantined", hint="`lockgate tests quarantined` lists them"
        )
    Console(highlight=False).print(f"released {escape(test)}")


@tests_app.command("quarantined")
def quarantined(repo: RepoOpt = Path("."), output: OutputOpt = "plain", db: DbOpt = None) -> None:
    """Every quarantine: owner, expiry (an expired one no longer excuses failures), and the
    clean runs since, with release proposed after lockgate.yml's `tests.release-after` clean
    runs on 3 or more trees."""
    records, now = TestRecords(open_store(db, repo)), time.time()
    after = load_project(repo.resolve()).tests.release_after
    entries = records.quarantines()
    history = records.of_tests(
        [q.test for q in entries], min((q.since for q in entries), default=now)
    )
    found = [
        standing(q, [r for r in history if r.test == q.test and r.at >= q.since], after, now)
        for q in entries
    ]
    if output == "json":
        _print_json(found)
        return
    table = Table("test", "owner", "since", "until", "clean runs", "reason")
    for item in found:
        entry = item.quarantine
        ends = _day(entry.until) + (" (expired)" if item.expired else "")
        clean = f"{item.clean_runs} on {item.trees} trees" + (
            " [green]release proposed[/]" if item.release_proposed else ""
        )
        table.add_row(escape(entry.test), escape(entry.owner), _day(entry.since), ends, clean,
                      escape(entry.reason))  # fmt: skip
    Console().print(table if entries else "no test is quarantined")


@insights_app.command("tests")
def tests_overview(
    repo: RepoOpt = Path("."),
    days: DaysOpt = 30,
    top: Annotated[int, typer.Option("--top")] = 30,
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Every test over the window: runs, failures, retries and its recent outcomes, the most
    failing first.

    Example: lockgate insights tests --days 7
    """
    found = tests_report(open_store(db, repo), days)
    if output == "json":
        _print_json(found)
        return
    if not found:
        Console().print(f"no test results in the last {days:g} days")
        return
    table = Table("test", "runs", "failed", "retried", "last", "recent (. F R)")
    for record in found[:top]:
        table.add_row(escape(record.test), str(record.runs), str(record.failures),
                      str(record.retried), record.last, record.history)  # fmt: skip
    Console().print(table)


@insights_app.command("flaky")
def flaky(
    repo: RepoOpt = Path("."),
    days: DaysOpt = 30,
    window: Annotated[int, typer.Option("--window", help="results per test")] = FLAKY_WINDOW,
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Tests that both passed and failed on the same tree, or passed only on a retry.

    Example: lockgate insights flaky --days 14
    """
    store = open_store(db, repo)
    found = flaky_report(store, days, window)
    if output == "json":
        _print_json(found)
        return
    if not found:
        Console().print(f"no flaky test in the last {days:g} days")
        return
    held = {q.test for q in TestRecords(store).quarantines()}
    table = Table("test", "flake rate", "results", "evidence")
    for test in found:
        proof = test.evidence[0]
        said = (
            f"{proof.kind} {str(proof.tree)[:12]}: passed in run {_runs(proof.passed_in)}, "
            f"failed in run {_runs(proof.failed_in)}"
            if proof.kind == "same tree"
            else f"{proof.kind} in run {_runs(proof.passed_in)}"
        )
        bar = "█" * round(test.rate * 10)
        name = escape(test.test) + (" [dim](quarantined)[/]" if test.test in held else "")
        table.add_row(name, f"{test.rate:4.0%} {bar}", str(test.results), escape(said))
    Console().print(table)


def _runs(ids: Sequence[int]) -> str:
    return ", ".join(f"#{i}" for i in ids[:5]) + (" ..." if len(ids) > 5 else "")


@insights_app.command("slow")
def slow(
    repo: RepoOpt = Path("."),
    days: DaysOpt = 30,
    budget: Annotated[
        str | None, typer.Option("--budget", help="e.g. 10m (default: lockgate.yml, else 10m)")
    ] = None,
    top: Annotated[int, typer.Option("--top")] = 10,
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Slowest tests and jobs (p50, p95, trend), and runs over the pipeline budget with their
    critical path.

    Example: lockgate insights slow --budget 10m
    """
    settings = load_project(repo.resolve()).tests
    try:
        limit = parse_duration(budget) if budget else float(settings.budget)
    except ValueError as exc:
        raise UserError(str(exc), where="--budget") from None
    report = slow_report(open_store(db, repo), days, limit, top)
    tests, jobs, late, commits = report.tests, report.jobs, report.over_budget, report.commits
    if output == "json":
        _print_json({"tests": tests, "jobs": jobs, "over_budget": late, "budget": limit})
        return
    console = Console(highlight=False, soft_wrap=True)
    test_budget = settings.test_budget
    for title, rows in (("tests", tests), ("jobs", jobs)):
        table = Table(title, "p50 s", "p95 s", "trend", "slower since", title=f"slowest {title}")
        for row in rows:
            over = test_budget is not None and title == "tests" and row.p95 > float(test_budget)
            table.add_row(
                escape(row.name) + (" [yellow](over its budget)[/]" if over else ""),
                f"{row.p50:.2f}",
                f"{row.p95:.2f}",
                sparkline(row.samples),
                f"run #{row.slower_since} ({commits.get(row.slower_since, '?')[:8]})"
                if row.slower_since
                else "",
            )
        console.print(table)
    console.print(f"runs over the {limit / 60:g} min budget: {len(late)}")
    for run in late[:top]:
        path = " -> ".join(run.critical_path)
        tests_said = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in run.slowest_tests[:3])
        console.print(
            f"  run #{run.run_id} ({run.sha[:8]}) {run.seconds / 60:.1f} min: {escape(path)}"
            + (f"; slowest tests {escape(tests_said)}" if tests_said else "")
        )


@insights_app.command("gates")
def gates(
    repo: RepoOpt = Path("."),
    days: DaysOpt = 30,
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Every job as a gate: its owner, minutes per week, failures that were real catches
    versus flaky or infrastructure, and catches per hour of machine time, best first.

    Example: lockgate insights gates --days 90
    """
    found = gates_report(open_store(db, repo), days, repo.resolve())
    if output == "json":
        _print_json(found)
        return
    table = Table("gate", "owner", "runs", "min/week", "failed", "real", "flaky", "infra",
                  "open", "catches/hour", title=f"gates, last {days:g} days")  # fmt: skip
    for gate in found:
        table.add_row(
            escape(gate.job_id), escape(gate.owner or "(nobody)"), str(gate.runs),
            f"{gate.minutes_per_week:.1f}", str(gate.failures), str(gate.real), str(gate.flaky),
            str(gate.infrastructure), str(gate.open), f"{gate.catches_per_hour:.2f}",
        )  # fmt: skip
    Console().print(table)


@insights_app.command("dora")
def dora_metrics(
    repo: RepoOpt = Path("."),
    env: Annotated[str | None, typer.Option("--env", help="one environment (default: all)")] = None,
    app: Annotated[str | None, typer.Option("--app", help="one app (default: all)")] = None,
    days: DaysOpt = 30,
    fix_window: Annotated[
        str, typer.Option("--fix-window", help="a fix this soon after a deployment makes it failed")
    ] = f"{FIX_WINDOW / 3600:g}h",
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Deployment frequency, lead time for changes, change failure rate, failed-deployment
    recovery time and rework rate, each with its DORA band (docs/insights.md defines them).

    Example: lockgate insights dora --env production --days 90
    """
    try:
        window = parse_duration(fix_window)
    except ValueError as exc:
        raise UserError(str(exc), where="--fix-window") from None
    metrics = dora_report(open_store(db, repo), days, repo.resolve(), env, app, window)
    if output == "json":
        _print_json(metrics)
        return
    table = Table("metric", "value", "band", "from", title=f"DORA, last {days:g} days")
    for metric in metrics:
        table.add_row(metric.name, _value(metric.value, metric.unit),
                      metric.band.value if metric.band else "-", str(metric.count))  # fmt: skip
    Console().print(table)


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "seconds":
        for size, name in ((DAY, "days"), (3600.0, "hours"), (60.0, "min")):
            if value >= size:
                return f"{value / size:.1f} {name}"
        return f"{value:.0f} s"
    if unit.startswith("share"):
        return f"{value:.0%}"
    return f"{value:.2f} {unit}"


@incident_app.command("open")
def open_incident(
    environment: Annotated[str, typer.Argument(help="where it happens")],
    title: Annotated[str, typer.Option("--title")],
    repo: RepoOpt = Path("."),
    db: DbOpt = None,
) -> None:
    """Open an incident; it counts against the deployment live in ENVIRONMENT now."""
    found = DeploymentRecords(open_store(db, repo)).open_incident(environment, title, time.time())
    against = f"deployment {found.deployment_id}" if found.deployment_id else "no deployment"
    Console(highlight=False).print(f"incident {found.id} opened against {against}")


@incident_app.command("resolve")
def resolve_incident(
    incident: Annotated[int, typer.Argument(help="its number")],
    repo: RepoOpt = Path("."),
    db: DbOpt = None,
) -> None:
    """Resolve an open incident (recovery time ends now)."""
    if not DeploymentRecords(open_store(db, repo)).resolve_incident(incident, time.time()):
        raise UserError(f"no open incident {incident}")
    Console(highlight=False).print(f"incident {incident} resolved")
