"""Protected environments through the API: their rules (admins; `lockgate protect` too), and
the reviews of a run's held jobs, approved or rejected by a reviewer the rule names, never by
whoever triggered the run. Everything is audited."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from ..common.errors import UserError
from ..common.names import checked_name
from ..store.protections import ProtectionRecord, ProtectionRecords, ReviewRecords, ReviewState
from ..store.records import Conclusion
from .api import item_of_run, services
from .auth import Admin, Operator, Viewer
from .holds import checked, going_on, held_with
from .repositories import registration_of

router = APIRouter(prefix="/api/v1")


# -- the API ---------------------------------------------------------------------------------------
class ProtectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewers: list[str] = Field([], max_length=100)
    wait_seconds: int = Field(0, ge=0, le=30 * 24 * 3600)
    branches: list[str] = Field([], max_length=100)
    vars: dict[str, str] = {}


@router.get("/protections")
def protections(request: Request, _: Viewer) -> list[dict[str, Any]]:
    return [p.__dict__ | {"reviewers": list(p.reviewers), "branches": list(p.branches)}
            for p in ProtectionRecords(services(request).store).all()]  # fmt: skip


@router.put("/protections/{environment}")
def protect(
    environment: str, body: ProtectionBody, request: Request, caller: Admin
) -> dict[str, Any]:
    found = services(request)
    records = ProtectionRecords(found.store)
    before = records.get(environment)
    try:
        checked_name(environment, "environment", "ENVIRONMENT")
        record = checked(ProtectionRecord(
            environment, tuple(body.reviewers), body.wait_seconds, tuple(body.branches),
            dict(body.vars), before.has_secrets if before else False, caller.name, time.time(),
        ))  # fmt: skip
    except UserError as exc:
        raise HTTPException(422, str(exc)) from None
    records.put(record)
    found.access.record(caller.name, "protect", environment)
    return {"environment": environment, "reviewers": body.reviewers}


@router.delete("/protections/{environment}")
def unprotect(environment: str, request: Request, caller: Admin) -> dict[str, Any]:
    found = services(request)
    if not ProtectionRecords(found.store).remove(environment):
        raise HTTPException(404, f"{environment} is not protected")
    found.access.record(caller.name, "unprotect", environment)
    return {"removed": environment}


@router.get("/runs/{run_id}/reviews")
def reviews_of(run_id: int, request: Request, _: Viewer) -> list[dict[str, Any]]:
    return [r.as_json() for r in ReviewRecords(services(request).store).of_run(run_id)]


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    comment: str = Field("", max_length=2000)


@router.post("/runs/{run_id}/reviews/{review_id}")
def decide(
    run_id: int, review_id: int, decision: Decision, request: Request, caller: Operator
) -> dict[str, Any]:
    """Approve or reject a held environment: a reviewer it names, never the run's trigger."""
    found = services(request)
    run, item = item_of_run(found, run_id)
    reviews = ReviewRecords(found.store)
    review = reviews.get(review_id)
    if review is None or review.run_id != run_id:
        raise HTTPException(404, f"run {run_id} has no review {review_id}")
    if review.state != ReviewState.WAITING:
        raise HTTPException(409, f"{review.environment} was {review.state.value} already, "
                                 f"by {review.decided_by}")  # fmt: skip
    if not review.reviewers:
        raise HTTPException(409, f"{review.environment} waits for its timer alone")
    if caller.name not in review.reviewers:
        raise HTTPException(403, f"{caller.name} is not a reviewer of {review.environment} "
                                 f"(its reviewers: {', '.join(review.reviewers)})")  # fmt: skip
    if caller.name == run.actor:
        raise HTTPException(403, f"{caller.name} triggered run {run_id}: another reviewer of "
                                 f"{review.environment} must approve it")  # fmt: skip
    if decision.approve and registration_of(found.repositories, item.trigger) is None:
        gone = f"{item.trigger.repository} is no longer registered: nothing can go on with its "
        raise HTTPException(409, gone + "jobs (an admin registers it again)")
    state = ReviewState.APPROVED if decision.approve else ReviewState.REJECTED
    decided = reviews.decide(review_id, state, caller.name, decision.comment or None)
    if decided is None:
        raise HTTPException(409, f"{review.environment} was decided already")
    found.access.record(caller.name, f"{state.value} {review.environment}", f"run {run_id}")
    if not decision.approve:
        said = f"rejected by {caller.name}" + (f": {decision.comment}" if decision.comment else "")
        found.store.settle_waiting(run_id, held_with(run, decided), Conclusion.FAILURE, said)
        return decided.as_json()
    trigger = going_on(item.trigger, run, decided, caller.name)
    answer = found.enqueue(trigger, caller.name)
    queued = int(json.loads(bytes(answer.body))["id"])
    reviews.continued(review_id, queued)
    said = f"approved by {caller.name}: goes on in queued run {queued}"
    found.store.settle_waiting(run_id, trigger.jobs or [], Conclusion.SKIPPED, said)
    return {**decided.as_json(), "continued_as": queued}
