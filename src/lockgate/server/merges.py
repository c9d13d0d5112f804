"""The merge queue through the API: changes (a bare repository's branch, or a GitHub or Gitea
pull request by number) are added (operators), listed (viewers) and removed (operators);
`server/mergequeue.py` tests and merges them. Audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from ..common.errors import UserError
from ..store.mergequeue import ACTIVE, MergeEntry, MergeQueueRecords
from ..store.repositories import ForgeKind
from .api import services
from .auth import Operator, Viewer
from .lanes import Lanes
from .mergequeue import add_change, enter, leave, registered
from .pullrequests import ForgeTrouble

router = APIRouter(prefix="/api/v1/merge-queue")


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository: str = Field(min_length=1, max_length=4096)
    branch: str | None = Field(None, min_length=1, max_length=255)  # of a bare repository
    pull: int | None = Field(None, ge=1, le=2**31 - 1)  # of a forge's repository
    target: str = Field("main", min_length=1, max_length=255)


@router.get("")
def listed(request: Request, _: Viewer) -> list[dict[str, Any]]:
    return [e.as_json() for e in MergeQueueRecords(services(request).store).listed()]


@router.post("", status_code=201)
def add(change: Change, request: Request, caller: Operator) -> dict[str, Any]:
    found = services(request)
    try:
        entry = _added(found.lanes, change, caller.name)
    except (UserError, ForgeTrouble) as exc:
        raise HTTPException(422, str(exc)) from None
    what = f"#{change.pull}" if change.pull else change.branch
    found.access.record(caller.name, "merge queue add", f"{what} -> {entry.target}")
    return entry.as_json()


def _added(lanes: Lanes, change: Change, by: str) -> MergeEntry:
    if (change.branch is None) == (change.pull is None):
        raise UserError("name the change: a branch (bare repository) or a pull (forge)")
    if change.branch is not None:
        return add_change(lanes.store, change.repository, change.branch, change.target, by)
    assert change.pull is not None
    registration = registered(lanes.store, change.repository)
    if registration.forge == ForgeKind.GIT:
        raise UserError(f"{change.repository} is a bare repository: name a branch, not a pull")
    return enter(lanes, registration, change.pull, by)


@router.delete("/{entry_id}")
def remove(entry_id: int, request: Request, caller: Operator) -> dict[str, Any]:
    found = services(request)
    records = MergeQueueRecords(found.store)
    entry = records.get(entry_id)
    if entry is None or entry.state not in ACTIVE:
        raise HTTPException(404, f"no change #{entry_id} is in the merge queue")
    leave(found.lanes, entry, f"removed by {caller.name}")
    found.access.record(caller.name, "merge queue remove", f"#{entry_id}")
    return {"removed": entry_id}
