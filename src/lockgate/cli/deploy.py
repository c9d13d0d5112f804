"""`lockgate deploy | rollback | promote | abort | down | status | analysis | agent`.

The deploy commands write an environment's desired state, make sure an agent supervises it,
and take reconcile passes until their rollout settles; `status` only reads.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..common.errors import UserError
from ..deploy import status as status_view
from ..deploy.agent import run_agent
from ..deploy.environment import DeployRefused
from ..deploy.reconciler import PROBE_PERIOD, wait_for
from ..deploy.regionset import RegionSet, RegionsView
from ..deploy.service import Changed
from ..store.deployments import DeploymentRecords, Rollout, RolloutStatus
from .options import DbOpt, OutputOpt, RepoOpt, deploy_service, open_store, user
from .regions import follow, print_regions

EnvArg = Annotated[str, typer.Argument(help="environment file, or the name of a deployed one")]
OK = (RolloutStatus.SUCCEEDED, RolloutStatus.AWAITING_APPROVAL, RolloutStatus.PAUSED)
DEGRADED_EXIT = 3


def _console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _records(repo: Path, db: str | None) -> DeploymentRecords:
    return DeploymentRecords(open_store(db, repo))


def _settle(changed: tuple[Changed, Rollout], output: str, began: float) -> None:
    """Take passes until the rollout settles (an agent supervises it from then on), and
    report it; a release of a multi-region environment is followed while the agent moves it."""
    reconciler, rollout = changed
    if isinstance(reconciler, RegionSet):
        ended = follow(reconciler, rollout, output, began)
        raise typer.Exit(0 if ended in OK else 1)

    def show(text: str) -> None:
        if output != "json":
            _console().print(f"[dim]{reconciler.name}[/] {escape(text)}")

    done = wait_for(reconciler, rollout.id, show)
    events = reconciler.records.events(reconciler.name, deployment_id=rollout.id)
    message = done.message or done.phase or ""
    report = {
        "environment": reconciler.name,
        "deployment": done.id,
        "digest": done.digest,
        "result": done.status.value,
        "message": message,
        "divergent": [dataclasses.asdict(d) for d in done.divergent],
        "events": [(e.at, e.text) for e in events],
    }
    if output == "json":
        print(json.dumps(report, indent=2))
    else:
        color = (
            "green"
            if done.status == RolloutStatus.SUCCEEDED
            else ("yellow" if done.status in OK else "red")
        )
        console = Console(highlight=False, soft_wrap=True)
        console.print(f"[{color}]{done.status.value}[/]: {escape(message)}")
        for item in done.divergent:
            console.print(f"  instance {item.slot}: {escape(item.reason)}")
    raise typer.Exit(0 if done.status in OK else 1)


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
        began = time.time()
        try:
            changed = deploy_service(repo, db).deploy(env, artifact, user())
        except DeployRefused as exc:
            if output == "json":
                print(json.dumps({"result": "refused", "message": str(exc)}))
            else:
                _console().print(f"[red]refused[/]: {escape(str(exc))}")
            raise typer.Exit(1) from None
        _settle(changed, output, began)

    @app.command()
    def rollback(
        env: EnvArg, repo: RepoOpt = Path("."), output: OutputOpt = "plain", db: DbOpt = None
    ) -> None:
        """Restore the previous digest everywhere and verify it.

        Example: lockgate rollback staging
        """
        began = time.time()
        _settle(deploy_service(repo, db).rollback(env, user()), output, began)

    @app.command()
    def promote(
        env: EnvArg, repo: RepoOpt = Path("."), output: OutputOpt = "plain", db: DbOpt = None
    ) -> None:
        """Go on with a paused deployment: a blue-green switch, or a canary's next steps.

        Example: lockgate promote production
        """
        began = time.time()
        _settle(deploy_service(repo, db).promote(env), output, began)

    @app.command()
    def abort(
        env: EnvArg, repo: RepoOpt = Path("."), output: OutputOpt = "plain", db: DbOpt = None
    ) -> None:
        """Stop a paused or running deployment: its new instances go, what served keeps
        serving.

        Example: lockgate abort production
        """
        began = time.time()
        _settle(deploy_service(repo, db).abort(env), output, began)

    @app.command()
    def down(env: EnvArg, repo: RepoOpt = Path("."), db: DbOpt = None) -> None:
        """Stop an environment's instances and its router (its history is kept).

        Example: lockgate down local
        """
        name, stopped = deploy_service(repo, db).down(env, user())
        _console().print(f"stopped {stopped} instances and the router of {name}")

    @app.command()
    def agent(
        repo: RepoOpt = Path("."),
        db: DbOpt = None,
        probe_period: Annotated[
            float, typer.Option("--probe-period", min=0.1, help="seconds between probes")
        ] = PROBE_PERIOD,
    ) -> None:
        """Keep every environment deployed from this repository converged: restart crashed
        instances (with backoff), take unready ones out of rotation, restart the router,
        replace drifted instances, carry rollouts on. Runs in the foreground (systemd: see
        docs/lockgate-agent.service); `deploy` starts one in the background when none runs.

        Example: lockgate agent --repo /srv/app
        """
        run_agent(repo, db, probe_period)

    @app.command()
    def status(
        env: Annotated[str | None, typer.Argument(help="environment (default: all)")] = None,
        repo: RepoOpt = Path("."),
        output: OutputOpt = "plain",
        db: DbOpt = None,
    ) -> None:
        """Where an environment stands: healthy, progressing, paused or degraded (exit 3), why,
        the next command, and per instance its digest, readiness, rotation and requests.
        Read-only: it changes nothing and waits for nothing.

        Example: lockgate status staging -o json
        """
        service = deploy_service(repo, db)
        names = [env] if env else service.names()
        if not names:
            _console().print(f"nothing has been deployed from {repo.resolve()}")
        views = [service.status(name) for name in names]
        if output == "json":
            found = [_jsonable(v) for v in views]
            print(json.dumps(found[0] if env else found, indent=2))
        else:
            for item in views:
                _print_status(item)
        degraded = any(v.health == status_view.Health.DEGRADED for v in views)
        raise typer.Exit(DEGRADED_EXIT if degraded else 0)

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
        records = _records(repo, db)
        found = records.rollout(deployment)
        if found is None:
            raise UserError(f"no deployment {deployment}", hint="lockgate status lists them")
        rows = records.analyses(deployment)
        if output == "json":
            shown = {"deployment": _jsonable(found), "analyses": [_jsonable(r) for r in rows]}
            print(json.dumps(shown, indent=2, default=str))
            return
        console = Console(highlight=False, soft_wrap=True)
        console.print(
            f"deployment {deployment} of {found.digest[:12]} to {found.environment}: "
            f"{found.status.value} — {escape(str(found.message or found.phase))}"
        )
        if not rows:
            console.print("  no analyses (only canary deployments are analysed)")
        for row in rows:
            console.print(
                f"  {escape(row.step)} #{row.measurement}: [bold]{row.verdict}[/] "
                f"(score {row.score:.0f}) over {row.finished_at - row.started_at:.1f}s"
            )
            for metric in row.metrics:
                console.print(
                    f"    {metric['name']}: {metric['verdict']} — {escape(metric['reason'])}"
                )


def _jsonable(record: Any) -> Any:
    return dataclasses.asdict(record)


def _readiness(item: status_view.InstanceView) -> str:
    if item.ready is None:
        return "UNKNOWN (host unreachable)"
    return "ready" if item.ready else "NOT READY"


def _print_status(view: status_view.StatusView) -> None:
    console = Console(highlight=False, soft_wrap=True)
    color = {"healthy": "green", "progressing": "cyan", "paused": "yellow"}.get(view.health, "red")
    latest, last = view.latest, "nothing deployed yet"
    if latest is not None:
        said = escape(str(latest.message or latest.phase))
        last = f"last deployment {latest.id} {latest.status}: {said}"
    console.print(
        f"[bold]{view.environment}[/] ({view.app}) [{color}]{view.health}[/]; router "
        f"{view.router}{'' if view.router_up else ' (down)'}; {last}"
    )
    for reason in view.reasons:
        console.print(f"  {escape(reason)}")
    for said in view.overrides:
        console.print(f"  [bold red]BREAK-GLASS[/] {escape(said)}")
    for host in view.hosts:
        console.print(
            f"  host {host.name} "
            + ("answers" if host.reachable else f"[red]UNREACHABLE[/] since "
               f"{status_view.clock(host.since)}, last seen {status_view.clock(host.last_seen)}")
        )  # fmt: skip
    if isinstance(view, RegionsView):
        print_regions(view)
    for item in view.instances:
        mark = "in rotation" if item.in_rotation else "out of rotation"
        console.print(
            f"  {item.index:3} {str(item.digest)[:12]} {item.state:8} "
            f"{_readiness(item)} {mark} {item.requests} requests"
            + (f" ({item.restarts} restarts)" if item.restarts else "")
        )
    if view.analysis:
        console.print(f"  last analysis: {escape(view.analysis)}")
    if not view.agent:
        console.print("  no agent is running (`lockgate agent`); nothing repairs this fleet")
    if view.next:
        console.print(f"  next: {escape(view.next)}")
