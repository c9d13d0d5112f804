"""`lockgate waves status [ENV]` and `lockgate traffic ENV REGION=WEIGHT...`: a multi-region
environment's releases and the traffic between its regions; and how `deploy` follows a
release (the agent moves it; the command shows its waves until it ends or pauses)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..common.errors import UserError
from ..deploy.regionset import RegionSet, RegionsView
from ..deploy.service import DeployService
from ..store.deployments import Rollout, RolloutStatus
from .options import DbOpt, OutputOpt, RepoOpt, deploy_service, user

FOLLOW_PERIOD = 0.2


def follow(regions: RegionSet, release: Rollout, output: str, began: float) -> RolloutStatus:
    """Show a release's events (those since the command began) until it ends or pauses;
    its last state. The agent moves it: one killed meanwhile is started again."""
    records = regions.records
    before = records.events(regions.name, deployment_id=release.id)
    shown = len([e for e in before if e.at < began])
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    while True:
        current = records.rollout(release.id)
        assert current is not None
        events = records.events(regions.name, deployment_id=release.id)
        for event in events[shown:]:
            if output != "json":
                console.print(f"[dim]{regions.name}[/] {escape(event.text)}")
        shown = len(events)
        if current.status.finished or current.status.waiting:
            break
        regions.supervised()
        time.sleep(FOLLOW_PERIOD)
    said = current.message or current.phase or ""
    if output == "json":
        print(json.dumps({"environment": regions.name, "release": current.id,
                          "digest": current.digest, "result": current.status.value,
                          "message": said}, indent=2))  # fmt: skip
    else:
        Console(highlight=False, soft_wrap=True).print(f"{current.status.value}: {escape(said)}")
    return current.status


def print_regions(view: RegionsView) -> None:
    console = Console(highlight=False, soft_wrap=True)
    for region in view.regions:
        latest = region.latest
        moving = (
            f"; {latest.status}: {escape(str(latest.message or latest.phase))}" if latest else ""
        )
        share = ""
        if region.traffic is not None:
            share = f"; traffic {region.traffic.weight} (asked {region.traffic.asked})"
            if not region.traffic.healthy:
                share += f" [red]DRAINED[/]: {escape(str(region.traffic.why))}"
        console.print(
            f"  region {region.region} ({region.environment}) {region.health}: "
            f"{str(region.digest)[:12]} on {region.serving}/{region.replicas} in rotation"
            f"{share}{moving}"
        )
    for release in view.releases:
        console.print(
            f"  release #{release.id} of {release.digest[:12]} {release.status}: "
            f"{escape(str(release.waiting_for))}"
        )


def register(app: typer.Typer) -> None:
    waves = typer.Typer(help="Where a multi-region environment's releases are.")
    app.add_typer(waves, name="waves")

    @waves.command("status")
    def waves_status(
        env: Annotated[str | None, typer.Argument(help="environment (default: all)")] = None,
        repo: RepoOpt = Path("."),
        output: OutputOpt = "plain",
        db: DbOpt = None,
    ) -> None:
        """Every release in flight or queued: its wave, what it waits for and until when.

        Example: lockgate waves status shop
        """
        found = deploy_service(repo, db)
        views = [
            v for v in (found.status(n) for n in _names(found, env)) if isinstance(v, RegionsView)
        ]
        if env and not views:
            raise UserError(f"{env} does not span regions: it has no waves", where="ENV")
        if output == "json":
            print(json.dumps([dataclasses.asdict(r) for v in views for r in v.releases], indent=2))
            return
        console = Console(highlight=False, soft_wrap=True)
        for view in views:
            console.print(
                f"[bold]{view.environment}[/]" + ("" if view.releases else ": no release in flight")
            )
            print_regions(view)

    @app.command()
    def traffic(
        env: Annotated[str, typer.Argument(help="an environment with several regions")],
        weights: Annotated[list[str], typer.Argument(help="REGION=WEIGHT, e.g. eu-west=100")],
        repo: RepoOpt = Path("."),
        db: DbOpt = None,
    ) -> None:
        """Share traffic between regions through the global router, in one change; regions
        not named get none (a multi-region blue-green: `lockgate traffic shop green=100`).

        Example: lockgate traffic shop eu-west=80 us-east=20
        """

        found = deploy_service(repo, db).traffic(env, weights, user())
        assert found.traffic is not None
        found.traffic.converge()  # now, in one change (the agent holds it from then on)
        for share in found.traffic.look():
            drained = "" if share.healthy else f" (drained: {share.why})"
            print(f"{found.name}: {share.region} weight {share.weight}{drained}")


def _names(service: DeployService, env: str | None) -> list[str]:
    return [env] if env else service.names()
