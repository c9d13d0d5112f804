"""`lockgate override ENV`: break-glass. Bypass a gate of an environment for a bounded time,
approve or revoke an override, rehearse one (`--drill`), or list them."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..deploy.breakglass import Drill
from ..store.overrides import Override
from .options import DbOpt, OutputOpt, RepoOpt, deploy_service, user


def register(app: typer.Typer) -> None:
    @app.command()
    def override(
        env: Annotated[str, typer.Argument(help="the name of a deployed environment")],
        reason: Annotated[str | None, typer.Option("--reason", help="why: in the audit")] = None,
        ttl: Annotated[str, typer.Option("--ttl", help="how long: 30m, 2h")] = "1h",
        bypass: Annotated[
            list[str] | None, typer.Option("--bypass", help="policy (default), window, analysis")
        ] = None,
        drill: Annotated[bool, typer.Option("--drill", help="rehearse, without effect")] = False,
        approve: Annotated[
            int | None, typer.Option("--approve", help="approve override ID")
        ] = None,
        revoke: Annotated[int | None, typer.Option("--revoke", help="end override ID")] = None,
        repo: RepoOpt = Path("."),
        output: OutputOpt = "plain",
        db: DbOpt = None,
    ) -> None:
        """Break glass: let a change through a gate of ENV (its policies, GitOps windows, canary
        analysis) for a bounded time, audited, announced in status. Without --reason, lists
        ENV's overrides.

        Example: lockgate override prod --reason "INC-7: hotfix blocked by the freeze" --ttl 30m
        """
        service, actor = deploy_service(repo, db), user()
        if approve is not None:
            _show(service.approve_override(approve, actor), output)
        elif revoke is not None:
            _show(Drill(service.revoke_override(revoke, actor)), output)
        elif reason is not None:
            _show(service.override(env, bypass or [], reason, ttl, actor, drill), output)
        else:
            found = service.overrides(env)
            if output == "json":
                print(json.dumps([dataclasses.asdict(o) for o in found], indent=2))
                return
            for item in found:
                print(item.describe(time.time()))


def _show(done: Drill, output: str) -> None:
    override: Override = done.override
    if output == "json":
        print(json.dumps(dataclasses.asdict(done), indent=2))
        return
    out = Console(highlight=False, soft_wrap=True)
    out.print(escape(override.describe(time.time())))
    for stage in done.stages:
        out.print(f"  {escape(stage.name)}: {stage.seconds * 1000:.1f} ms")
    if override.drill and override.revoked_at is None:
        out.print(f"a drill: waiting for a second person (`lockgate override {override.environment}"
                  f" --approve {override.id}`), as a real one would")  # fmt: skip
