"""`lockgate flags guard | guarded`: a flag rolled out in steps, each judged like a canary on
what its SDKs observe; a regression switches it off. `lockgate serve` moves the rollouts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from ..common.errors import UserError
from ..common.yamlsource import load_yaml
from ..deploy.envfile import AnalysisSpec
from ..flags.guard import Guard, GuardSpec
from ..flags.service import FlagService
from ..store.flagrollouts import GuardedRollout, RolloutRecords
from ..store.flags import FlagRecords
from ..workflow.loader import plain
from ..workflow.yamlmodel import error_at, first_error
from .options import DbOpt, OutputOpt, RepoOpt, open_store, user

HINT = "see docs/flags.md, Guarded rollouts"


def _guard(repo: Path, db: str | None) -> Guard:
    store = open_store(db, repo)
    return Guard(FlagService(FlagRecords(store)), RolloutRecords(store))


def guard(
    name: Annotated[str, typer.Argument(help="the flag's name")],
    env: Annotated[str, typer.Argument(help="the environment")],
    steps: Annotated[
        str, typer.Option("--steps", help="percentages, rising: 1,10,50,100")
    ] = "1,10,50,100",
    bake: Annotated[float, typer.Option("--bake", help="seconds each step is judged")] = 300,
    window: Annotated[
        float, typer.Option("--window", help="seconds of observations a measurement judges")
    ] = 120,
    analysis: Annotated[
        Path | None,
        typer.Option("--analysis", help="YAML: the analysis, as a canary's `analysis:`"),
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="stop the running rollout")] = False,
    repo: RepoOpt = Path("."),
    db: DbOpt = None,
) -> None:
    """Roll NAME out in ENV in steps, judged on what its SDKs observe: users it is on for
    against those it is off for. A regression switches it off and says why.

    Example: lockgate flags guard new-checkout production --steps 1,10,50,100 --bake 600
    """
    if stop:
        stopped = _guard(repo, db).stop(name, env, user())
        print(f"guarded rollout #{stopped.id} of {name} in {env} stopped; the flag stays as it is")
        return
    try:
        percentages = [int(s) for s in steps.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"{steps!r} is not a list of percentages", where="--steps",
                        hint="for example --steps 1,10,50,100") from None  # fmt: skip
    judged = _analysis(analysis)
    try:
        spec = GuardSpec(steps=percentages, bake=bake, window=window, analysis=judged)
    except ValidationError as exc:
        first = first_error(exc)
        said = first["msg"].removeprefix("Value error, ")
        raise UserError(said, where=f"--{first['loc'][0]}", hint=HINT) from None
    started = _guard(repo, db).start(name, env, spec, user())
    shown = ", ".join(f"{s}%" for s in spec.steps)
    print(f"guarded rollout #{started.id} of {name} in {env}: {shown}, {bake:g}s a step; "
          "`lockgate serve` on this store moves it")  # fmt: skip


def _analysis(path: Path | None) -> dict[str, object]:
    if path is None:
        return {}
    tree = load_yaml(path)
    if tree is None:
        return {}
    try:
        AnalysisSpec.model_validate(plain(tree))
    except ValidationError as exc:
        raise error_at(first_error(exc), tree, str(path), AnalysisSpec, HINT) from None
    return plain(tree)  # type: ignore[no-any-return]


def guarded(
    env: Annotated[str | None, typer.Argument(help="one environment (default: all)")] = None,
    rollout_id: Annotated[
        int | None, typer.Option("--id", help="one rollout, with its measurements")
    ] = None,
    repo: RepoOpt = Path("."),
    output: OutputOpt = "plain",
    db: DbOpt = None,
) -> None:
    """Guarded rollouts, newest first: where each stands and why."""
    records = _guard(repo, db).records
    if rollout_id is not None:
        one = records.get(rollout_id)
        if one is None:
            raise UserError(f"no guarded rollout {rollout_id}", hint="`lockgate flags guarded`")
        analyses = records.analyses(rollout_id)
        if output == "json":
            found = {**_json(one), "analyses": [{k: v for k, v in vars(a).items()
                                                 if k != "samples"} for a in analyses]}  # fmt: skip
            print(json.dumps(found, indent=2))
            return
        _line(one)
        for a in analyses:
            print(f"  {a.step} #{a.measurement}: {a.verdict} ({a.reason})")
        return
    rollouts = records.recent(environment=env)
    if output == "json":
        print(json.dumps([_json(r) for r in rollouts], indent=2))
        return
    if not rollouts:
        print("no guarded rollouts")
    for rollout in rollouts:
        _line(rollout)


def _json(rollout: GuardedRollout) -> dict[str, object]:
    return {**vars(rollout), "state": rollout.state.value}


def _line(rollout: GuardedRollout) -> None:
    steps = rollout.spec["steps"]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rollout.started_at))
    print(f"#{rollout.id} {rollout.flag} in {rollout.environment} {rollout.state.value} at step "
          f"{rollout.step + 1}/{len(steps)} ({steps[rollout.step]}%), started {when} by "
          f"{rollout.started_by}: {rollout.reason}")  # fmt: skip
