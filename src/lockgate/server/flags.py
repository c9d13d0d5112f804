"""Feature flags for SDKs: Unleash's client API (`/api/client/features`, `register`, `metrics`),
so Unleash's own SDKs read lockgate's flags unchanged, and the OpenFeature Remote Evaluation
Protocol (`/ofrep/v1/evaluate/flags[/KEY]`), so any OpenFeature SDK's OFREP provider does.

An SDK's key names its environment the way Unleash's client tokens do, `ENVIRONMENT.TOKEN`
(optionally `project:` before it; OFREP providers send it as a bearer token or `X-API-Key`):
TOKEN is any lockgate API token, ENVIRONMENT the flags' environment it reads. Answers carry an
ETag that changes with every flag change: an SDK polling an unchanged state gets 304, no body."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ..common.errors import UserError
from ..flags import ofrep
from ..flags.context import Context
from ..flags.evaluate import Evaluator
from ..flags.service import FlagService
from ..store.access import Access
from ..store.flags import FlagChange
from .auth import Admin, Operator, Viewer
from .flagfeed import RevisionFeed

router = APIRouter(prefix="/api/client")
ofrep_router = APIRouter(prefix="/ofrep/v1/evaluate")
api_router = APIRouter(prefix="/api/v1/flags")  # people: viewers read, operators change


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


def _knows_segments(request: Request) -> bool:
    """Whether the SDK reads global segments: it says it follows Unleash's client
    specification 4.2 or later (older ones get each segment's constraints inlined)."""
    said = request.headers.get("unleash-client-spec", "")
    try:
        return tuple(int(p) for p in said.split("-")[0].split(".")[:2]) >= (4, 2)
    except ValueError:
        return False


@router.get("/features")
def features(request: Request, environment: Environment) -> Response:
    service = _flags(request)
    inline = not _knows_segments(request)
    tag = f'"{service.records.revision()}-{environment}{"-inline" if inline else ""}"'
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": tag})
    try:
        state = service.client_features(environment, inline_segments=inline)
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
    await request.body()  # size-checked; what an SDK says of itself is not kept yet
    return {}


@router.post("/metrics", status_code=202)
async def metrics(request: Request, _: Environment) -> dict[str, Any]:
    await request.body()  # accepted so SDKs do not log errors; not yet counted
    return {}


class Evaluators:
    """Each environment's evaluator, made again only once the flags' revision moved: an OFREP
    call costs one read of the revision, not a read and parse of every flag."""

    KEPT = 64  # environments kept at most (any valid key names one)

    def __init__(self, service: FlagService) -> None:
        self.service = service
        self.known: dict[str, tuple[int, Evaluator]] = {}
        self.lock = threading.Lock()

    def of(self, environment: str) -> tuple[int, Evaluator]:
        revision = self.service.records.revision()  # read first: the flags are at least this new
        with self.lock:
            known = self.known.get(environment)
        if known is not None and known[0] == revision:
            return known
        try:
            made = (revision, Evaluator(self.service.client_features(environment)))
        except UserError as exc:
            raise HTTPException(400, exc.message) from None
        with self.lock:
            if len(self.known) >= self.KEPT:
                self.known.clear()
            self.known[environment] = made
        return made


def _evaluator(request: Request, environment: str) -> tuple[int, Evaluator]:
    evaluators: Evaluators = request.app.state.flag_evaluators
    return evaluators.of(environment)


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
        context = _context(await request.body())
    except BadContext as exc:
        return exc.response
    _, evaluator = await asyncio.to_thread(_evaluator, request, environment)
    found = ofrep.answer(evaluator, key, context)
    status = 404 if found.error_code == "FLAG_NOT_FOUND" else 200
    return JSONResponse(found.wire(), status)


@ofrep_router.post("/flags")
async def evaluate_all(request: Request, environment: Environment) -> Response:
    """Every flag for one context; its ETag changes with the flags and with the context."""
    body = await request.body()
    try:
        context = _context(body)
    except BadContext as exc:
        return exc.response
    revision, evaluator = await asyncio.to_thread(_evaluator, request, environment)
    tag = f'"{revision}-{hashlib.sha256(environment.encode() + body).hexdigest()[:16]}"'
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": tag})
    flags = [ofrep.answer(evaluator, key, context).wire() for key in evaluator.features]
    return JSONResponse({"flags": flags, "metadata": {"version": str(revision)}},
                        headers={"ETag": tag})  # fmt: skip


# -- the API for people -------------------------------------------------------------------------
class NewFlag(BaseModel):
    name: str
    type: str = "release"
    description: str = Field("", max_length=2000)


class FlagChangeRequest(BaseModel):
    """One of: `enabled`, or `rollout` (percent, with `stickiness`)."""

    enabled: bool | None = None
    rollout: int | None = None
    stickiness: str = "default"


class Retirement(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _changed(call: Any, status: int = 400) -> Any:
    try:
        return call()
    except UserError as exc:
        raise HTTPException(status, exc.message) from None


def _known(service: FlagService, name: str) -> None:
    if service.records.get(name) is None:
        raise HTTPException(404, f"no flag named {name!r}")


def _audit(request: Request, actor: str, change: FlagChange) -> FlagChange:
    access: Access = request.app.state.services.access
    access.record(actor, "flag", f"{change.flag}: {change.summary}")
    return change


@api_router.get("")
def listed(request: Request, _: Viewer, environment: str | None = None) -> list[dict[str, Any]]:
    """Every live flag; with `environment`, its state there as SDKs fetch it."""
    service = _flags(request)
    states = {}
    if environment is not None:
        served = _changed(lambda: service.client_features(environment))
        states = {f.name: f.model_dump(mode="json", by_alias=True) for f in served.features}
    return [{"name": r.name, "type": str(r.kind), "description": r.description,
             "created_at": r.created_at, "created_by": r.created_by,
             **({"state": states[r.name]} if r.name in states else {})}
            for r in service.records.all()]  # fmt: skip


@api_router.get("/{name}/history")
def flag_history(name: str, request: Request, _: Viewer, limit: int = 50) -> list[FlagChange]:
    _known(_flags(request), name)
    return _flags(request).records.changes(name, limit=min(max(limit, 1), 500))


@api_router.post("", status_code=201)
def create(wanted: NewFlag, request: Request, caller: Operator) -> dict[str, str]:
    service = _flags(request)
    taken = 409 if service.records.get(wanted.name) is not None else 400  # a name is for life
    record = _changed(
        lambda: service.create(wanted.name, wanted.type, wanted.description, caller.name), taken
    )
    request.app.state.services.access.record(caller.name, "flag", f"{record.name}: created")
    return {"name": record.name, "type": str(record.kind)}


@api_router.post("/{name}/environments/{environment}")
def change(
    name: str, environment: str, wanted: FlagChangeRequest, request: Request, caller: Operator
) -> FlagChange:
    service = _flags(request)
    _known(service, name)
    if (wanted.enabled is None) == (wanted.rollout is None):
        raise HTTPException(400, "say either `enabled` (true or false) or `rollout` (0-100)")
    if wanted.rollout is not None:
        rollout = wanted.rollout
        done = _changed(lambda: service.rollout(
            name, environment, rollout, caller.name, wanted.stickiness))  # fmt: skip
    else:
        enabled = bool(wanted.enabled)
        done = _changed(lambda: service.switch(name, environment, enabled, caller.name))
    return _audit(request, caller.name, done)


@api_router.put("/{name}/environments/{environment}")
async def define(name: str, environment: str, request: Request, caller: Operator) -> FlagChange:
    """The whole state in `environment`: Unleash's `enabled`, `strategies`, `variants`."""
    try:
        document = json.loads(await request.body())
    except ValueError:
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(document, dict):
        raise HTTPException(400, "the body must be a JSON object")
    service = _flags(request)

    def define_it() -> FlagChange:  # the store is blocking: off the event loop
        _known(service, name)
        done = _changed(lambda: service.define(name, environment, document, caller.name))
        return _audit(request, caller.name, done)

    return await asyncio.to_thread(define_it)


@api_router.post("/{name}/archive")
def retire(name: str, wanted: Retirement, request: Request, caller: Admin) -> dict[str, str]:
    """Archive (admins): the flag leaves every environment, and its name is never used again."""
    service = _flags(request)
    _known(service, name)
    _changed(lambda: service.archive(name, caller.name, wanted.reason))
    request.app.state.services.access.record(caller.name, "flag", f"{name}: archived")
    return {"archived": name}
