"""`lockgate deploy | status | rollback | promote | abort`: releases to environments."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..artifacts import signed
from ..deploy.controller import Controller, DeployRefused, Report, owner_alive
from ..deploy.envfile import load_environment
from ..errors import UserError
from ..names import checked_name
from ..statedir import state_dir
from ..store import Store, default_url
from ..store.deployments import DeploymentRecords
from .options import DbOpt, OutputOpt, RepoOpt

EnvArg = Annotated[str, typer.Argument(help="environment file, or the name of a deployed one")]


def _console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _controller(env: str, repo: Path, db: str | None, output: str) -> Controller:
    state = state_dir(repo.resolve())
    path, known_as = Path(env), None
    if not path.is_file():
        checked_name(env, "environment", "ENV")
        path, known_as = state / "fleet" / env / "environment.yaml", env
        if not path.is_file():
            raise UserError(
                f"no environment file {env!r} and no deployed environment of that name",
                where="ENV",
                hint="give the environment file (e.g. deploy/staging.yaml)",
            )
    name, spec = load_environment(path, known_as)
    store = Store(db or default_url(repo.resolve()))
    quiet = output == "json"

    def say(text: str) -> None:
        if not quiet:
            _console().print(f"[dim]{name}[/] {escape(text)}")

    controller = Controller(name, spec, state, DeploymentRecords(store), say)
    kept = controller.dir / "environment.yaml"
    if path.resolve() != kept.resolve():
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, kept)  # `status NAME` and `rollback NAME` read it later
    return controller


def recover_interrupted(store: Store, repo: Path) -> None:
    """Any lockgate command first puts back in order an environment whose rollout was killed."""
    records = DeploymentRecords(store)
    for deployment in records.in_progress():
        if owner_alive(deployment):
            continue
        name = str(deployment["environment"])
        kept = state_dir(repo) / "fleet" / name / "environment.yaml"
        if kept.is_file():
            try:
                ctl = _controller(name, repo, str(store.url), "plain")
                with ctl.exclusive():
                    ctl.recover()
            except UserError as exc:
                # Never retried: a recovery that cannot work must not block every command.
                records.finish(int(deployment["id"]), "failed", f"recovery failed: {exc}", None)


def _act(
    env: str, repo: Path, db: str | None, output: str, action: Callable[[Controller], Report]
) -> None:
    """Run one controller action on an environment, holding its lock, and report the result."""
    ctl = _controller(env, repo, db, output)
    with ctl.exclusive():
        report = action(ctl)
    _finish(report, output)


def _finish(report: Report, output: str) -> None:
    if output == "json":
        print(json.dumps(report.as_dict(), indent=2))
    else:
        color = {"succeeded": "green", "awaiting_approval": "yellow", "paused": "yellow"}.get(
            report.result, "red"
        )
        Console(highlight=False, soft_wrap=True).print(
            f"[{color}]{report.result}[/]: {escape(report.message)}"
        )
        for item in report.divergent:
            Console(highlight=False).print(f"  instance {item['slot']}: {escape(item['reason'])}")
    raise typer.Exit(0 if report.result in ("succeeded", "awaiting_approval", "paused") else 1)


def register(app: typer.Typer) -> None:
    @app.command()
    def deploy(
        env: EnvArg,
        artifact: Annotated[
            str, typer.Option("--artifact", "-a", help="bundle digest, or an app directory")
        ],
        repo: RepoOpt = Path("."),
        output: OutputOpt = "plain",
        db: DbOpt = None,
    ) -> None:
        """Roll an artifact out to an environment; succeed only when every instance runs it.

        Example: lockgate deploy deploy/staging.yaml --artifact examples/app
        """
        ctl = _controller(env, repo, db, output)
        reference = artifact
        if Path(artifact).is_dir():
            reference = signed.build_signed(Path(artifact), ctl.state_dir).digest
        with ctl.exclusive():
            try:
                report = ctl.deploy(reference, os.environ.get("USER", "lockgate"))
            except DeployRefused as exc:
                if output == "json":
                    print(json.dumps({"result": "refused", "message": str(exc)}))
                else:
                    _console().print(f"[red]refused[/]: {escape(str(exc))}")
                raise typer.Exit(1) from None
        _finish(report, output)

    @app.command()
    def rollback(
        env: EnvArg, repo: RepoOpt = Path("."), output: OutputOpt = "plain", db: DbOpt = None
    ) -> None:
        """Restore the previous digest everywhere and verify it.

        Example: lockgate rollback staging
        """
        _act(env, repo, db, output, lambda ctl: ctl.rollback(os.environ.get("USER", "lockgate")))

    @app.command()
    def promote(
        env: EnvArg, repo: RepoOpt = Path("."), output: OutputOpt = "plain", db: DbOpt = None
    ) -> None:
        """Go on with a paused deployment: a blue-green switch, or a canary's next steps.

        Example: lockgate promote production
        """
        _act(env, repo, db, output, Controller.promote)

    @app.command()
    def abort(
        env: EnvArg, repo: RepoOpt = Path("."), output: OutputOpt = "plain", db: DbOpt = None
    ) -> None:
        """Drop a paused deployment's new instances; what serves keeps serving.

        Example: lockgate abort production
        """
        _act(env, repo, db, output, lambda ctl: ctl.abort())

    @app.command()
    def analysis(
        deployment: Annotated[int, typer.Argument(help="deployment id (lockgate status shows it)")],
        repo: RepoOpt = Path("."),
        output: OutputOpt = "plain",
        db: DbOpt = None,
    ) -> None:
        """Every canary measurement of a deployment: samples, statistics, verdict, in words.

        Example: lockgate analysis 12
        """
        records = DeploymentRecords(Store(db or default_url(repo.resolve())))
        found = records.deployment(deployment)
        if found is None:
            raise UserError(f"no deployment {deployment}", hint="lockgate status lists them")
        rows = records.analyses(deployment)
        if output == "json":
            print(json.dumps({"deployment": found, "analyses": rows}, indent=2, default=str))
            return
        console = Console(highlight=False, soft_wrap=True)
        console.print(
            f"deployment {deployment} of {str(found['digest'])[:12]} to {found['environment']}: "
            f"{found['status']} — {escape(str(found['message'] or found['phase']))}"
        )
        if not rows:
            console.print("  no analyses (only canary deployments are analysed)")
        for row in rows:
            console.print(
                f"  {escape(row['step'])} #{row['measurement']}: [bold]{row['verdict']}[/] "
                f"(score {row['score']:.0f}) over {row['finished_at'] - row['started_at']:.1f}s"
            )
            for metric in row["metrics"]:
                console.print(
                    f"    {metric['name']}: {metric['verdict']} — {escape(metric['reason'])}"
                )

    @app.command()
    def down(env: EnvArg, repo: RepoOpt = Path("."), db: DbOpt = None) -> None:
        """Stop an environment's instances and its router (its history is kept).

        Example: lockgate down local
        """
        ctl = _controller(env, repo, db, "plain")
        with ctl.exclusive():
            stopped = ctl.down()
        _console().print(f"stopped {stopped} instances and the router of {ctl.name}")

    @app.command()
    def status(
        env: Annotated[str | None, typer.Argument(help="environment (default: all)")] = None,
        repo: RepoOpt = Path("."),
        output: OutputOpt = "plain",
        db: DbOpt = None,
    ) -> None:
        """Per instance: the digest it runs, readiness, rotation and requests served.

        Example: lockgate status staging -o json
        """
        fleet = state_dir(repo.resolve()) / "fleet"
        names = [env] if env else sorted(p.name for p in fleet.glob("*") if p.is_dir())
        views = []
        for name in names:
            ctl = _controller(name, repo, db, output)
            with ctl.exclusive():
                ctl.recover()
            views.append(ctl.status())
        if output == "json":
            print(json.dumps(views[0] if env else views, indent=2))
            return
        for view in views:
            _print_status(view)


def _print_status(view: dict[str, Any]) -> None:
    console = Console(highlight=False, soft_wrap=True)
    latest = view["latest"] or {}
    console.print(
        f"[bold]{view['environment']}[/] ({view['app']}) router {view['router']}: "
        f"{str(view['digest'])[:12]}; last deployment {latest.get('id')} "
        f"{latest.get('status')}: {escape(str(latest.get('message') or latest.get('phase')))}"
    )
    for item in view["instances"]:
        mark = "in rotation" if item["in_rotation"] else "out of rotation"
        console.print(
            f"  {item['index']:3} {str(item['digest'])[:12]} {item['state']:8} "
            f"{'ready' if item['ready'] else 'NOT READY'} {mark} {item['requests']} requests"
        )
    if view.get("analysis"):
        console.print(f"  last analysis: {escape(view['analysis'])}")
    name = view["environment"]
    decide = f"lockgate promote {name} (or lockgate abort {name})"
    fix = f"deploy a fix: lockgate deploy ENV_FILE --artifact DIGEST ({name} is consistent)"
    next_step = {
        "awaiting_approval": decide,
        "paused": decide,
        "in_progress": "a rollout is running; wait for it",
        "failed": fix,
        "rolled_back": fix,
    }.get(str(latest.get("status")))
    if next_step:
        console.print(f"  next: {next_step}")
