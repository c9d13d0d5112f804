"""The merge queue through the API: changes are added (operators), listed (viewers) and
removed (operators); `server/mergequeue.py` tests and merges them. Audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from ..common.errors import UserError
from ..store.mergequeue import ACTIVE, EntryState, MergeQueueRecords
from .api import services
from .auth import Operator, Viewer
from .mergequeue import add_change

router = APIRouter(prefix="/api/v1/merge-queue")


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository: str = Field(min_length=1, max_length=4096)
    branch: str = Field(min_length=1, max_length=255)
    target: str = Field("main", min_length=1, max_length=255)


@router.get("")
def listed(request: Request, _: Viewer) -> list[dict[str, Any]]:
    return [e.as_json() for e in MergeQueueRecords(services(request).store).listed()]


@router.post("", status_code=201)
def add(change: Change, request: Request, caller: Operator) -> dict[str, Any]:
    found = services(request)
    try:
        entry = add_change(found.store, change.repository, change.branch, change.target,
                           caller.name)  # fmt: skip
    except UserError as exc:
        raise HTTPException(422, str(exc)) from None
    found.access.record(caller.name, "merge queue add", f"{change.branch} -> {change.target}")
    return entry.as_json()


@router.delete("/{entry_id}")
def remove(entry_id: int, request: Request, caller: Operator) -> dict[str, Any]:
    found = services(request)
    records = MergeQueueRecords(found.store)
    entry = records.get(entry_id)
    if entry is None or entry.state not in ACTIVE:
        raise HTTPException(404, f"no change #{entry_id} is in the merge queue")
    records.change(entry_id, state=EntryState.FAILED, reason=f"removed by {caller.name}")
    found.access.record(caller.name, "merge queue remove", f"#{entry_id}")
    return {"removed": entry_id}
