"""The `lockgate` command: a thin shell over the engine and the store."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import asdict
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from .. import __version__
from ..common import crash
from ..common.errors import UserError
from ..common.events import sender
from ..engine.envfiles import read_secret_file
from ..engine.leftovers import clean_up
from ..engine.plan import Plan, describe
from ..engine.runner import Runner, WorkflowResult, dispatched_inputs, overall, selection, summary
from ..engine.state import RunOptions
from ..store import Store, default_url
from ..store.records import RunRecord
from . import artifact as artifact_cli
from . import deploy as deploy_cli
from . import flags as flags_cli
from . import gitops as gitops_cli
from . import insights as insights_cli
from . import mergequeue as mergequeue_cli
from . import override as override_cli
from . import protect as protect_cli
from . import regions as regions_cli
from . import repos as repos_cli
from . import serve as serve_cli
from . import worker as worker_cli
from .options import DbOpt, OutputOpt, RepoOpt
from .views import LiveView, PlainView, SilentView


def _markdown(text: str) -> Any:
    from rich.markdown import Markdown  # imported on use: markdown-it costs 50 ms of start-up

    return Markdown(text)


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="lockgate: run GitHub Actions workflows locally, without Docker, and keep every run.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _err() -> Console:
    # Made per call: a command may run in a child of the warm server (see launcher.py), whose
    # terminal is not the one the server had when it imported this module.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _pairs(values: list[str], flag: str, sep: str = "=") -> dict[str, str]:
    result = {}
    for item in values:
        key, found, value = item.partition(sep)
        if not found or not key:
            raise UserError(
                f"{item!r} is not KEY{sep}VALUE",
                where=flag,
                hint=f"write it as {flag} NAME{sep}VALUE",
            )
        result[key] = value
    return result


def _store(db: str | None, repo: Path) -> Store:
    store = Store(db or default_url(repo))
    clean_up(repo, store.mark_interrupted())
    return store


@app.command()
def run(
    event: Annotated[str, typer.Argument(help="event to simulate")] = "push",
    workflows: Annotated[
        Path | None,
        typer.Option(
            "-W", "--workflows", help="workflow file or directory (default: .github/workflows)"
        ),
    ] = None,
    repo: RepoOpt = Path("."),
    job: Annotated[
        list[str], typer.Option("-j", "--job", help="run only this job (and what it needs)")
    ] = [],  # noqa: B006
    secret: Annotated[list[str], typer.Option("-s", "--secret", help="K=V")] = [],  # noqa: B006
    secret_file: Annotated[Path | None, typer.Option("--secret-file")] = None,
    var: Annotated[list[str], typer.Option("--var", help="K=V for the vars context")] = [],  # noqa: B006
    input_: Annotated[list[str], typer.Option("--input", help="K=V workflow input")] = [],  # noqa: B006
    env: Annotated[list[str], typer.Option("--env", help="K=V added to every step")] = [],  # noqa: B006
    actor: Annotated[
        str | None, typer.Option("--actor", help="default: the event's sender, else $USER")
    ] = None,
    event_json: Annotated[
        Path | None, typer.Option("-e", "--event-json", help="event payload JSON file")
    ] = None,
    matrix: Annotated[
        list[str], typer.Option("--matrix", help="K:V, keep only these matrix combinations")
    ] = [],  # noqa: B006
    platform: Annotated[
        list[str], typer.Option("--platform", help="LABEL=local: run jobs for LABEL here")
    ] = [],  # noqa: B006
    action_path: Annotated[
        list[str],
        typer.Option(
            "--action-path", help="owner/repo@ref=DIR: use a local copy of a remote action"
        ),
    ] = [],  # noqa: B006
    offline: Annotated[
        bool,
        typer.Option("--offline", help="download nothing: actions and toolchains from the cache"),
    ] = False,
    github_url: Annotated[
        str,
        typer.Option(
            "--github-url",
            envvar="LOCKGATE_GITHUB_URL",
            help="where remote actions are cloned from (any URL git can clone: a GitHub "
            "Enterprise server, a mirror, file:///srv/actions)",
        ),
    ] = "https://github.com",
    jobs: Annotated[int, typer.Option("--jobs", help="jobs in parallel")] = os.cpu_count() or 2,
    bind: Annotated[bool, typer.Option("--bind", help="run in the repository itself")] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="run every job; neither read nor write the cache")
    ] = False,
    remote_cache: Annotated[
        str | None,
        typer.Option(
            "--remote-cache",
            envvar="LOCKGATE_REMOTE_CACHE",
            help="Bazel HTTP remote cache URL (default: lockgate.yml cache.remote)",
        ),
    ] = None,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast", help="at the first failure, cancel what can no longer change the result"
        ),
    ] = False,
    list_: Annotated[bool, typer.Option("--list", help="print the plan, run nothing")] = False,
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Run the workflows EVENT triggers, as GitHub would, on this machine.

    Example: lockgate run push -W .github/workflows/ci.yml -j test --matrix python:3.11
    """
    repo_dir = repo.resolve()
    if not repo_dir.is_dir():
        raise UserError(f"{repo} is not a directory", where="-C")
    payload: dict[str, Any] = {}
    if event_json is not None:
        try:
            payload = json.loads(event_json.read_text())
        except (OSError, ValueError, RecursionError) as exc:
            raise UserError(f"cannot read event JSON: {exc}", where="-e") from None
        if not isinstance(payload, dict):
            raise UserError("the event payload must be a JSON object", where="-e")
    env_pairs = _pairs(env, "--env")
    options = RunOptions(
        repo_dir=repo_dir,
        event_name=event,
        workflows=workflows,
        job_filter=tuple(job),
        secrets={**read_secret_file(secret_file), **_pairs(secret, "-s")},
        vars=_pairs(var, "--var"),
        inputs={**dispatched_inputs(event, payload), **_pairs(input_, "--input")},
        env=env_pairs,
        actor=actor or sender(payload) or os.environ.get("USER", "lockgate"),
        event_payload=payload,
        matrix_filter=_pairs(matrix, "--matrix", ":"),
        platforms=_pairs(platform, "--platform"),
        max_jobs=max(1, jobs),
        bind=bind,
        use_cache=not no_cache,
        remote_cache=remote_cache,
        fail_fast=fail_fast,
        action_paths={
            k: Path(v).resolve() for k, v in _pairs(action_path, "--action-path").items()
        },
        offline=offline,
        github_url=github_url.rstrip("/"),
    )
    for name in list(options.secrets):
        if name in os.environ and not options.secrets[name]:
            options.secrets[name] = os.environ[name]
    if output not in ("plain", "json"):
        raise UserError(f"unknown output {output!r}", where="--output", hint="plain or json")
    if list_:
        # The plan reads history when there is some, and writes nothing.
        url = db or default_url(repo_dir)
        exists = not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).exists()
        history = Store(url).job_history if exists else None
        chosen, not_triggered = selection(options)
        _print_plan(describe(chosen, not_triggered, history, options.job_filter), output)
        return
    store = _store(db, repo_dir)
    runner = Runner(options, store, SilentView())
    chosen, not_triggered = runner.selection()
    if not chosen:
        message = f"no workflow is triggered by {event}"
        if output == "json":
            print(json.dumps({"conclusion": "success", "runs": [], "message": message}))
        else:
            _err().print(
                escape(message + "".join(f"\n  {wf.display}: {why}" for wf, why in not_triggered))
            )
        return
    view = (
        SilentView() if output == "json" else (LiveView() if sys.stdout.isatty() else PlainView())
    )
    runner.observer = view
    try:
        results = asyncio.run(runner.run(chosen))
    finally:
        view.close()
    if output == "json":
        print(json.dumps(summary(results), indent=2, default=str))
    else:
        _print_results(results)
    conclusion = overall(results)
    raise typer.Exit(0 if conclusion == "success" else 130 if runner.interrupted else 1)


MAX_LISTED = 12  # matrix jobs listed per job in the plain plan (JSON has them all)


def _print_plan(plan: Plan, output: str) -> None:
    if output == "json":
        print(json.dumps(plan.as_json(), indent=2))
        return
    console = Console(highlight=False)
    for planned in plan.workflows:
        console.print(f"[bold]{escape(planned.workflow)}[/] ({escape(planned.file)})")
        for n, stage in enumerate(planned.stages, 1):
            for entry in stage:
                runs_where = entry.runs_on or f"uses {entry.uses}"
                matrix = entry.matrix
                count = (
                    f", matrix: {len(matrix)} jobs"
                    if isinstance(matrix, list)
                    else (f", matrix: {matrix}" if matrix else "")
                )
                after = f", needs: {', '.join(entry.needs)}" if entry.needs else ""
                console.print(
                    f"  stage {n}: {escape(entry.job)} ({escape(runs_where)}{count}"
                    f"{escape(after)}) [dim]{entry.history}[/]"
                )
                for job in entry.jobs[:MAX_LISTED]:
                    if job.name != entry.job or job.runs_on != runs_where:
                        console.print(f"      {escape(job.name)} on {escape(job.runs_on)}")
    console.print(
        "[dim]within a stage, jobs start in the order shown: likeliest to fail soonest first[/]"
    )
    for skipped in plan.not_triggered:
        console.print(f"[dim]{escape(skipped.file)}: {escape(skipped.reason)}[/]")


def _print_results(results: list[WorkflowResult]) -> None:
    console = Console(highlight=False)
    for result in results:
        for job in result.jobs:
            if job.summary:
                console.rule(escape(f"summary: {job.name}"))
                console.print(_markdown(job.summary))
        console.print(
            f"run {result.run_id} {escape(result.workflow)}: "
            f"[bold]{result.conclusion}[/]  (lockgate show {result.run_id})"
        )
        for job in result.jobs:
            duration = f" {job.duration:.1f}s" if job.duration else ""
            message = f" — {job.message}" if job.message else ""
            shown = "cached" if job.cached_from else job.conclusion or "?"
            console.print(escape(f"  {shown:9} {job.name}{duration}{message}"))


@app.command()
def runs(
    repo: RepoOpt = Path("."),
    limit: Annotated[int, typer.Option("-n", "--limit")] = 20,
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """List recent runs.

    Example: lockgate runs -n 5
    """
    rows = _store(db, repo.resolve()).list_runs(limit)
    if output == "json":
        print(json.dumps([row.as_json() for row in rows], indent=2, default=str))
        return
    from rich.table import Table  # imported on use: it is slow and `run` never needs it

    table = Table("run", "workflow", "event", "branch", "sha", "status", "started")
    for row in rows:
        sha = row.sha[:8] + ("*" if row.dirty else "")
        started = datetime.fromtimestamp(row.started_at).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            str(row.id), escape(row.workflow), escape(row.event), escape(row.branch), sha,
            row.shown, started,
        )  # fmt: skip
    Console().print(table)


def _get_run(store: Store, run_id: int) -> RunRecord:
    found = store.get_run(run_id)
    if found is None:
        raise UserError(f"no run {run_id}", hint="see `lockgate runs` for run numbers")
    return found


@app.command()
def show(
    run_id: Annotated[int, typer.Argument(help="run number")],
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Show a run: jobs, steps, outcomes, durations, annotations and summaries.

    Example: lockgate show 12 --output json
    """
    found = _get_run(_store(db, repo.resolve()), run_id)
    if output == "json":
        print(json.dumps(found.as_json(), indent=2, default=str))
        return
    console = Console(highlight=False)
    sha = found.sha[:12] + (" (dirty)" if found.dirty else "")
    console.print(
        f"[bold]run {run_id}[/] "
        + escape(f"{found.workflow} — {found.event} on {found.branch} {sha} — {found.shown}")
    )
    for job in found.jobs:
        took = f" {job.seconds:.1f}s" if job.seconds is not None else ""
        message = f" — {job.message}" if job.message else ""
        console.print(escape(f"  {job.shown:9} {job.name}{took}{message}"))
        for step in job.steps:
            took = f" {step.seconds:.2f}s" if step.seconds is not None else ""
            console.print(escape(f"      {step.shown:9} {step.name}{took}"))
        for note in job.annotations:
            where = f" {note.where()}" if note.file else ""
            console.print(escape(f"      {note.level}{where}: {note.message}"))
        if job.summary:
            console.print(_markdown(job.summary))


@app.command()
def logs(
    run_id: Annotated[int, typer.Argument(help="run number")],
    job: Annotated[list[str], typer.Option("-j", "--job", help="only this job")] = [],  # noqa: B006
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Print a run's stored log lines (with timestamps).

    Example: lockgate logs 12 -j test
    """
    store = _store(db, repo.resolve())
    _get_run(store, run_id)
    lines = store.logs(run_id, job)
    if output == "json":
        print(json.dumps([asdict(line) for line in lines], indent=2, default=str))
        return
    for entry in lines:
        stamp = datetime.fromtimestamp(entry.ts).strftime("%H:%M:%S.%f")[:-3]
        print(f"{stamp} [{entry.key}] {entry.line}")


app.add_typer(artifact_cli.app, name="artifact")
app.add_typer(flags_cli.app, name="flags")
app.add_typer(repos_cli.app, name="repo")
app.add_typer(mergequeue_cli.app, name="queue")
app.command("protect")(protect_cli.protect)
app.command("worker")(worker_cli.worker)
app.command("protections")(protect_cli.protections)
app.command("approve")(protect_cli.approve)
deploy_cli.register(app)
gitops_cli.register(app)
override_cli.register(app)
regions_cli.register(app)
app.add_typer(insights_cli.tests_app, name="tests")
app.add_typer(insights_cli.insights_app, name="insights")
app.add_typer(insights_cli.incident_app, name="incident")
serve_cli.register(app)
cache_app = typer.Typer(help="The job cache under .lockgate/cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return ""


@cache_app.command("ls")
def cache_ls(repo: RepoOpt = Path("."), output: OutputOpt = "plain") -> None:
    """List cache entries, most recently used first.

    Example: lockgate cache ls -o json
    """
    from ..engine.cache.jobcache import cache_listing

    entries = cache_listing(repo.resolve() / ".lockgate")
    if output == "json":
        print(json.dumps([asdict(e) for e in entries], indent=2))
        return
    from rich.table import Table

    table = Table("key", "job", "workflow", "from run", "size", "last used", "saves")
    for e in entries:
        used = datetime.fromtimestamp(e.used).strftime("%Y-%m-%d %H:%M:%S")
        saves = f"{e.saves:.1f}s" if e.saves is not None else ""
        table.add_row(
            e.key[:12], e.job, e.workflow or "", str(e.source_run or ""), _size(e.size), used, saves
        )
    Console(highlight=False).print(table)
    total = sum(e.size for e in entries)
    Console(highlight=False).print(f"{len(entries)} entries, {_size(total)}")


@cache_app.command("prune")
def cache_prune(
    repo: RepoOpt = Path("."),
    max_size: Annotated[
        str | None,
        typer.Option("--max-size", help="e.g. 500MB (default: lockgate.yml cache.max-size, 2GiB)"),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="remove every entry")] = False,
) -> None:
    """Drop least recently used entries until the cache fits in its size bound.

    Example: lockgate cache prune --max-size 500MB
    """
    from ..engine.cache.jobcache import prune_cache
    from ..workflow.project import load_project, parse_size

    root = repo.resolve()
    if all_:
        bound = 0
    elif max_size is not None:
        try:
            bound = parse_size(max_size)
        except ValueError as exc:
            raise UserError(str(exc), where="--max-size", hint="e.g. --max-size 500MB") from None
    else:
        bound = load_project(root).max_size
    dropped = prune_cache(root / ".lockgate", bound)
    _err().print(f"removed {dropped} entries; the cache now fits in {_size(bound)}")


@app.command()
def actions() -> None:
    """The built-in actions (checkout, setup-python, cache, ...): every input and output of
    the release each stands in for, and what lockgate does with it, as markdown.

    Example: lockgate actions > builtin-actions.md
    """
    from ..actions.contracts import markdown

    print(markdown(), end="")


@app.command()
def version() -> None:
    """Print lockgate's version."""
    print(__version__)


@cache
def command() -> typer.core.TyperGroup:
    """The click command typer builds from `app`: about 25 ms of reading signatures, so built
    once per process, and by the warm server before it forks any command."""
    built = typer.main.get_command(app)
    assert isinstance(built, typer.core.TyperGroup)  # `app` has many commands
    return built


def main() -> None:
    try:
        # Without standalone mode click returns the code of typer.Exit instead of exiting.
        code = command().main(standalone_mode=False, prog_name="lockgate")
    except UserError as exc:
        _err().print(f"[red]error[/]: {escape(str(exc))}", highlight=False, markup=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except typer.BadParameter as exc:
        exc.show()
        sys.exit(2)
    except Exception as exc:
        show = getattr(exc, "show", None)
        if show is not None and hasattr(exc, "exit_code"):  # click's usage errors
            show()
            sys.exit(2)
        sys.exit(crash.report(exc))
    sys.exit(code if isinstance(code, int) else 0)
