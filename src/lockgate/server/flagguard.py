"""Guarded flag rollouts on the server: SDKs report observations, people start and stop
rollouts, and the guard's loop moves them (lockgate.flags.guard decides how)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError

from ..common.errors import UserError
from ..common.validation import first_problem
from ..flags.guard import Guard, GuardSpec
from ..flags.observations import Batch, dated
from ..store.flagrollouts import FlagAnalysis, GuardedRollout
from .auth import Operator, Viewer
from .flags import Environment

router = APIRouter()
BUSY_TICK, IDLE_TICK = 0.25, 1.0  # seconds between the guard's passes


def _guard(request: Request) -> Guard:
    return request.app.state.flag_guard  # type: ignore[no-any-return]


@router.post("/api/client/observations", status_code=202)
async def observations(request: Request, environment: Environment) -> dict[str, Any]:
    """A batch of an SDK's observations. Only flags with a guarded rollout running in the
    key's environment keep theirs; the others are counted as discarded."""
    try:
        batch = Batch.model_validate_json(await request.body())
    except ValidationError as exc:
        raise HTTPException(400, f"observations: {first_problem(exc)}") from None
    guard = _guard(request)

    def keep() -> dict[str, int]:
        watched = {r.flag for r in guard.records.active() if r.environment == environment}
        kept = discarded = 0
        for flag, seen in dated(batch, time.time()).items():
            if flag in watched:
                kept += guard.records.observe(flag, environment, seen)
            else:
                discarded += len(seen)
        return {"accepted": kept, "discarded": discarded}

    return await asyncio.to_thread(keep)


class GuardRequest(BaseModel):
    steps: Annotated[list[int], Field(min_length=1, max_length=20)]
    bake: float = 300.0
    window: float = 120.0
    analysis: dict[str, Any] = {}


def _shown(rollout: GuardedRollout) -> dict[str, Any]:
    return {**vars(rollout), "state": rollout.state.value}


@router.post("/api/v1/flags/{name}/environments/{environment}/guarded", status_code=201)
def start(
    name: str, environment: str, wanted: GuardRequest, request: Request, caller: Operator
) -> dict[str, Any]:
    """Roll the flag out in `steps`, each judged for `bake` seconds before the next."""
    try:
        spec = GuardSpec.model_validate(wanted.model_dump())
        rollout = _guard(request).start(name, environment, spec, caller.name)
    except ValidationError as exc:
        raise HTTPException(400, f"guarded rollout: {first_problem(exc)}") from None
    except UserError as exc:
        raise HTTPException(409 if "running" in exc.message else 400, exc.message) from None
    steps = ", ".join(f"{s}%" for s in spec.steps)
    request.app.state.services.access.record(
        caller.name, "flag", f"{name}: guarded rollout #{rollout.id} in {environment} ({steps})"
    )
    return _shown(rollout)


@router.delete("/api/v1/flags/{name}/environments/{environment}/guarded")
def stop(name: str, environment: str, request: Request, caller: Operator) -> dict[str, Any]:
    try:
        rollout = _guard(request).stop(name, environment, caller.name)
    except UserError as exc:
        raise HTTPException(404, exc.message) from None
    request.app.state.services.access.record(
        caller.name, "flag", f"{name}: guarded rollout #{rollout.id} stopped"
    )
    return _shown(rollout)


@router.get("/api/v1/flags/rollouts/{rollout_id}")
def shown(rollout_id: int, request: Request, _: Viewer) -> dict[str, Any]:
    rollout, analyses = rollout_and_analyses(request, rollout_id)
    return {**_shown(rollout), "analyses": [vars(a) for a in analyses]}


def rollout_and_analyses(
    request: Request, rollout_id: int
) -> tuple[GuardedRollout, list[FlagAnalysis]]:
    records = _guard(request).records
    rollout = records.get(rollout_id)
    if rollout is None:
        raise HTTPException(404, f"no guarded rollout {rollout_id}")
    return rollout, records.analyses(rollout_id)


def loop(guard: Guard, stop: threading.Event) -> None:
    """The guard's passes, quicker while a rollout runs."""
    pause = IDLE_TICK
    while not stop.wait(pause):
        pause = BUSY_TICK if guard.tick(time.time()) else IDLE_TICK
