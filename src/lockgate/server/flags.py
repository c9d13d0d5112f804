"""Feature flags for SDKs: Unleash's client API (`/api/client/features`, `register`, `metrics`),
so Unleash's own SDKs read lockgate's flags unchanged, and the OpenFeature Remote Evaluation
Protocol (`/ofrep/v1/evaluate/flags[/KEY]`), so any OpenFeature SDK's OFREP provider does.

An SDK's key names its environment the way Unleash's client tokens do, `ENVIRONMENT.TOKEN`
(optionally `project:` before it; OFREP providers send it as a bearer token or `X-API-Key`):
TOKEN is any lockgate API token, ENVIRONMENT the flags' environment it reads. Answers carry an
ETag that changes with every flag change: an SDK polling an unchanged state gets 304, no body."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ..common.errors import UserError
from ..flags import ofrep
from ..flags.context import Context
from ..flags.evaluate import Evaluator
from ..flags.service import FlagService
from ..store.access import Access
from .flagfeed import RevisionFeed
from .limits import read_body

router = APIRouter(prefix="/api/client")
ofrep_router = APIRouter(prefix="/ofrep/v1/evaluate")


def sdk_environment(request: Request) -> str:
    """The environment an SDK's key opens (401 without a valid key)."""
    raw = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    raw = raw or request.headers.get("x-api-key", "").strip()
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


@router.get("/stream")
def stream(request: Request, _: Environment) -> StreamingResponse:
    """Server-sent events: `{"type": "refetchEvaluation", "etag": REVISION}` at once and after
    every flag change, so a connected SDK fetches again within a moment of the change (OFREP's
    event shape; lockgate's own SDK listens to it)."""
    feed: RevisionFeed = request.app.state.flag_feed

    async def events() -> AsyncIterator[str]:
        async for revision in feed.revisions():
            if revision is None:
                yield ": keep-alive\n\n"
                continue
            data = json.dumps({"type": "refetchEvaluation", "etag": str(revision)})
            yield f"id: {revision}\nevent: message\ndata: {data}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})  # fmt: skip


@router.post("/register", status_code=202)
async def register(request: Request, _: Environment) -> dict[str, Any]:
    await read_body(request)  # size-checked; what an SDK says of itself is not kept yet
    return {}


@router.post("/metrics", status_code=202)
async def metrics(request: Request, _: Environment) -> dict[str, Any]:
    await read_body(request)  # accepted so SDKs do not log errors; not yet counted
    return {}


def _evaluator(request: Request, environment: str) -> Evaluator:
    try:
        return Evaluator(_flags(request).client_features(environment))
    except UserError as exc:
        raise HTTPException(400, exc.message) from None


class BadContext(Exception):
    def __init__(self, why: str) -> None:
        self.response = JSONResponse({"errorCode": "INVALID_CONTEXT", "errorDetails": why}, 400)


def _context(body: bytes) -> Context:
    try:
        return ofrep.context_of(json.loads(body or b"null"))
    except ValueError as exc:
        raise BadContext(str(exc)) from None


@ofrep_router.post("/flags/{key}")
async def evaluate_one(key: str, request: Request, environment: Environment) -> JSONResponse:
    try:
        context = _context(await read_body(request))
    except BadContext as exc:
        return exc.response
    found = ofrep.answer(_evaluator(request, environment), key, context)
    status = 404 if found.error_code == "FLAG_NOT_FOUND" else 200
    return JSONResponse(found.wire(), status)


@ofrep_router.post("/flags")
async def evaluate_all(request: Request, environment: Environment) -> Response:
    """Every flag for one context; its ETag changes with the flags and with the context."""
    body = await read_body(request)
    try:
        context = _context(body)
    except BadContext as exc:
        return exc.response
    revision = _flags(request).records.revision()
    tag = f'"{revision}-{hashlib.sha256(environment.encode() + body).hexdigest()[:16]}"'
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": tag})
    evaluator = _evaluator(request, environment)
    flags = [ofrep.answer(evaluator, key, context).wire() for key in evaluator.features]
    return JSONResponse({"flags": flags, "metadata": {"version": str(revision)}},
                        headers={"ETag": tag})  # fmt: skip
