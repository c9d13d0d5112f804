"""`lockgate gitops validate | sync | status | notify` and `lockgate plan`: environments that
follow a config repository (docs/gitops.md)."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..common.errors import UserError
from ..deploy.gitops.layout import read_config
from ..deploy.gitops.plan import ConfigPlan, plan
from ..deploy.gitops.source import Unreachable
from ..deploy.gitops.sync import GitopsSync, SyncRequest, request_sync
from ..deploy.launch import start_agent
from ..store.gitops import EnvironmentSync, GitopsRecords, SourceState, SyncStatus
from ..workflow.project import GitopsSourceSettings, load_project
from .options import DbOpt, OutputOpt, RepoOpt, deploy_service

app = typer.Typer(
    no_args_is_help=True,
    help="Environments that follow a config repository: validate it, sync, show drift.",
)
NOT_SYNCED_EXIT = 3
COLORS = {SyncStatus.SYNCED: "green", SyncStatus.OUT_OF_SYNC: "yellow", SyncStatus.UNKNOWN: "red"}


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _settings(repo: Path) -> GitopsSourceSettings:
    found = load_project(repo.resolve()).gitops
    if found is None:
        raise UserError(
            f"{repo.resolve()} follows no config repository",
            where="lockgate.yml",
            hint="add `gitops: {repository: URL, branch: main, path: envs}` (docs/gitops.md)",
        )
    return found


@app.command()
def validate(
    directory: Annotated[
        Path, typer.Argument(help="a checkout of the config repository's path")
    ] = Path("."),
) -> None:
    """Check a config repository's files: every problem at file:line:col; exit 2 on any.

    Example: lockgate gitops validate envs/
    """
    display = "" if directory == Path(".") else f"{str(directory).rstrip('/')}/"
    tree = read_config(directory, display)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    for problem in tree.problems:
        console.print(f"[red]error[/]: {escape(str(problem))}")
    if tree.problems:
        raise typer.Exit(2)
    names = ", ".join(tree.environments) or "none"
    _out().print(f"valid: {len(tree.environments)} environment(s): {names}")


@app.command()
def sync(
    environments: Annotated[list[str] | None, typer.Argument(help="default: all")] = None,
    override: Annotated[
        str | None,
        typer.Option("--override", help="REASON: sync inside a deny window (audited)"),
    ] = None,
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Sync now: fetch the config repository and apply whatever differs from it (a manual
    sync also reverts drift and retries a failed commit). The agent carries rollouts on.

    Example: lockgate gitops sync production --override "hotfix INC-42"
    """
    service = deploy_service(repo, db)
    records = GitopsRecords(service.records.store)
    request = SyncRequest(
        manual=True,
        only=frozenset(environments or ()),
        override=override,
        actor=os.environ.get("USER", "lockgate"),
    )
    report = GitopsSync(service, _settings(repo), records).run(request)
    start_agent(service.repo, service.state, service.records.url)  # polls from now on
    if output == "json":
        print(
            json.dumps(_report_json(report.source, report.environments, report.actions), indent=2)
        )
    else:
        for action in report.actions:
            _out().print(escape(action))
        _print(report.source, report.environments)
    _exit(report.source, report.environments)


@app.command()
def status(
    environment: Annotated[str | None, typer.Argument(help="default: all")] = None,
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Synced, OutOfSync or Unknown per environment, its health, the config commit applied and
    what differs between git and what runs (as the last pass found it; exit 3 unless synced).

    Example: lockgate gitops status production -o json
    """
    service = deploy_service(repo, db)
    records = GitopsRecords(service.records.store)
    state = GitopsSync(service, _settings(repo), records).state()  # no fetch: reads only
    source, found, key = state.source, state.environments, state.source.source
    if environment is not None:
        found = [e for e in found if e.environment == environment]
        if not found:
            raise UserError(f"{environment!r} is not an environment of {key}", where="ENV")
    if output == "json":
        shown = _report_json(source, found, [])
        print(json.dumps(shown["environments"][0] if environment else shown, indent=2))
    else:
        _print(source, found)
    _exit(source, found)


@app.command()
def notify(repo: RepoOpt = Path(".")) -> None:
    """Ask the agent for a sync pass now (a post-receive hook of the config repository runs
    this; `lockgate serve` does it on a webhook).

    Example: lockgate gitops notify -C /srv/deploy
    """
    service = deploy_service(repo, None)
    _settings(repo)
    request_sync(service.state)
    start_agent(service.repo, service.state, service.records.url)


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="gitops")

    @main.command(name="plan")
    def plan_command(
        ref: Annotated[
            str | None, typer.Option("--ref", help="branch, tag, refs/pull/N/head or commit")
        ] = None,
        repo: RepoOpt = Path("."),
        output: OutputOpt = "plain",
        db: DbOpt = None,
    ) -> None:
        """What applying the config repository at REF would change, per environment (+ ~ -);
        exit 0 with no change, 2 with changes, 1 when it cannot tell (as terraform plan
        -detailed-exitcode) or when the policies would refuse a change. Changes nothing.

        Example: lockgate plan --ref refs/pull/12/head
        """
        service = deploy_service(repo, db)
        try:
            found = plan(service, _settings(repo), GitopsRecords(service.records.store), ref)
        except (UserError, Unreachable) as exc:  # 1, never 2 (which says "changes")
            Console(stderr=True, highlight=False).print(f"[red]error[/]: {escape(str(exc))}")
            raise typer.Exit(1) from None
        if output == "json":
            print(json.dumps(dataclasses.asdict(found), indent=2, default=str))
        else:
            _print_plan(found)
        raise typer.Exit(1 if found.problems or found.refused else (2 if found.changed else 0))


def _print_plan(found: ConfigPlan) -> None:
    out = _out()
    out.print(f"plan for {escape(found.source)} at {found.commit.sha[:12]} "
              f"({escape(found.commit.author)}: {escape(found.commit.subject)})")  # fmt: skip
    colors = {"+": "green", "~": "yellow", "-": "red", "e": "red"}
    for line in found.lines():
        out.print(f"[{colors.get(line.lstrip()[:1], 'default')}]{escape(line)}[/]")
    out.print(("plan: " if found.changed else "") + found.summary())


def _report_json(
    source: SourceState, environments: list[EnvironmentSync], actions: list[str]
) -> dict[str, Any]:
    return {
        "source": dataclasses.asdict(source),
        "environments": [{**dataclasses.asdict(e), "sync": e.sync.value} for e in environments],
        "actions": actions,
    }


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "never"


def _print(source: SourceState, environments: list[EnvironmentSync]) -> None:
    out = _out()
    commit = f"{source.commit[:12]} ({escape(str(source.author))})" if source.commit else "none"
    out.print(
        f"source {escape(source.source)}: commit {commit}, fetched {_when(source.fetched_at)}"
    )
    for trouble in (source.error, source.invalid):
        if trouble:
            out.print(f"  [red]{escape(trouble)}[/]")
    if not environments:
        out.print("  no environment synced yet (`lockgate gitops sync`)")
    for env in environments:
        applied = env.applied_commit[:12] if env.applied_commit else "nothing"
        out.print(
            f"[bold]{env.environment}[/] [{COLORS[env.sync]}]{env.sync.value}[/] "
            f"health {env.health or 'unknown'}; applied {applied}, git at {env.commit[:12]}"
        )
        if env.message:
            out.print(f"  {escape(env.message)}")
        for diff in env.differences:
            out.print(
                f"  ~ {escape(diff.field)}: git {escape(diff.desired)}, live {escape(diff.live)}"
            )


def _exit(source: SourceState, environments: list[EnvironmentSync]) -> None:
    synced = all(e.sync == SyncStatus.SYNCED for e in environments)
    raise typer.Exit(0 if synced and not (source.error or source.invalid) else NOT_SYNCED_EXIT)
