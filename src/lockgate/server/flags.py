"""Feature flags for SDKs: Unleash's client API (`/api/client/features`, `register`, `metrics`),
so Unleash's own SDKs read lockgate's flags unchanged.

An SDK's key names its environment the way Unleash's client tokens do, `ENVIRONMENT.TOKEN`
(optionally `project:` before it): TOKEN is any lockgate API token, ENVIRONMENT the flags'
environment it reads. The features answer carries an ETag that changes with every flag change,
so an SDK polling an unchanged state gets 304 and no body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from ..common.errors import UserError
from ..flags.service import FlagService
from ..store.access import Access
from .limits import read_body

router = APIRouter(prefix="/api/client")


def sdk_environment(request: Request) -> str:
    """The environment an SDK's key opens (401 without a valid key)."""
    raw = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    scoped = raw.partition(":")[2] if ":" in raw else raw  # Unleash's `project:` prefix
    environment, _, secret = scoped.rpartition(".")
    access: Access = request.app.state.services.access
    if not environment or access.holder(secret) is None:
        raise HTTPException(
            401,
            "an SDK key is required: Authorization: ENVIRONMENT.TOKEN (a lockgate API token)",
        )
    return environment


Environment = Annotated[str, Depends(sdk_environment)]


def _flags(request: Request) -> FlagService:
    return request.app.state.flags  # type: ignore[no-any-return]


@router.get("/features")
def features(request: Request, environment: Environment) -> Response:
    service = _flags(request)
    tag = f'"{service.records.revision()}-{environment}"'
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": tag})
    try:
        state = service.client_features(environment)
    except UserError as exc:
        raise HTTPException(400, exc.message) from None
    body = state.model_dump(mode="json", by_alias=True, exclude_none=True)
    return JSONResponse(body, headers={"ETag": tag, "Cache-Control": "no-cache"})


@router.post("/register", status_code=202)
async def register(request: Request, _: Environment) -> dict[str, Any]:
    await read_body(request)  # size-checked; what an SDK says of itself is not kept yet
    return {}


@router.post("/metrics", status_code=202)
async def metrics(request: Request, _: Environment) -> dict[str, Any]:
    await read_body(request)  # accepted so SDKs do not log errors; not yet counted
    return {}
