"""Segments for people: named lists of constraints that flags' strategies share. Viewers read
them; operators define, change and remove them, every change audited. A segment a strategy
names cannot be removed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from ..common.errors import UserError
from ..flags.service import FlagService
from .auth import Operator, Viewer

router = APIRouter(prefix="/api/v1/flags/segments")


def _flags(request: Request) -> FlagService:
    return request.app.state.flags  # type: ignore[no-any-return]


@router.get("")
def listed(request: Request, _: Viewer) -> list[dict[str, Any]]:
    return [vars(s) for s in _flags(request).records.segments()]


@router.put("/{name}")
async def define(name: str, request: Request, caller: Operator) -> dict[str, Any]:
    """The segment's `constraints` (Unleash's shape) and `description`."""
    try:
        document = json.loads(await request.body())
    except ValueError:
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("description", ""), str):
        raise HTTPException(400, "the body must be an object: constraints, description")

    def define_it() -> dict[str, Any]:  # the store is blocking: off the event loop
        try:
            segment = _flags(request).define_segment(
                name, document.get("description", ""), document.get("constraints"), caller.name
            )
        except UserError as exc:
            raise HTTPException(400, exc.message) from None
        request.app.state.services.access.record(caller.name, "flag", f"segment {name} set")
        return vars(segment)

    return await asyncio.to_thread(define_it)


@router.delete("/{name}")
def remove(name: str, request: Request, caller: Operator) -> dict[str, str]:
    try:
        _flags(request).remove_segment(name, caller.name)
    except UserError as exc:
        raise HTTPException(404 if "no segment" in exc.message else 409, exc.message) from None
    request.app.state.services.access.record(caller.name, "flag", f"segment {name} removed")
    return {"removed": name}
