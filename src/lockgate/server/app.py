"""The HTTP side of `lockgate serve` (FastAPI): webhooks in, git hooks in, the queue and runs
out as JSON under /api/v1. A trigger is in the store before it is acknowledged."""

from __future__ import annotations

import asyncio
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ..insights import reports
from ..insights.dora import Metric
from ..insights.flaky import FlakyTest, TestRecord
from ..insights.gates import Gate
from ..store import Store
from ..store.access import Access, AuditEvent, Role, Token
from ..store.queue import Queue, QueuedRun, Trigger
from . import webhooks
from .worker import REF, SOURCE

MAX_BODY = 5 << 20  # bytes; GitHub caps payloads at 25 MB, but run-triggering ones are small
FORGES = ("github", "gitea", "gitlab")
LIVE_POLL = 0.25  # seconds between looks at a running run's new log lines


class ManualRun(BaseModel):
    """A run asked for through the API (workflow_dispatch), with its inputs."""

    repository: str = Field(pattern=SOURCE.pattern)
    ref: str = Field("refs/heads/main", pattern=f"^{REF}$")
    inputs: dict[str, str] = {}


class GitPush(BaseModel):
    """What a post-receive hook sends: one pushed ref."""

    repository: str = Field(pattern=SOURCE.pattern)
    ref: str = Field(pattern=f"^{REF}$")
    before: str = Field(pattern=r"^[0-9a-f]{40,64}$")
    after: str = Field(pattern=r"^[0-9a-f]{40,64}$")


def _item(item: QueuedRun) -> dict[str, Any]:
    trigger = {k: v for k, v in asdict(item.trigger).items() if k != "payload"}
    return {**asdict(item), "trigger": trigger, "status": item.status.value}


async def _body(request: Request) -> bytes:
    """The request body, refused (413) past MAX_BODY without reading the rest."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, f"the body is larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, f"the body is larger than {MAX_BODY} bytes")
    return bytes(body)


def _caller(request: Request, least: Role) -> Token:
    """The caller's token, which must have `least` or more."""
    access: Access = request.app.state.access
    raw = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    holder = access.holder(raw) if raw else None
    if holder is None:
        raise HTTPException(401, "an API token is required (Authorization: Bearer ...)")
    if holder.role < least:
        raise HTTPException(403, f"this needs the {least.name.lower()} role")
    return holder


def _viewer(request: Request) -> Token:
    return _caller(request, Role.VIEWER)


def _operator(request: Request) -> Token:
    return _caller(request, Role.OPERATOR)


def _admin(request: Request) -> Token:
    return _caller(request, Role.ADMIN)


Viewer = Annotated[Token, Depends(_viewer)]
Operator = Annotated[Token, Depends(_operator)]
Admin = Annotated[Token, Depends(_admin)]


def create_app(store_url: str, webhook_secret: bytes, hook_token: str) -> FastAPI:
    app = FastAPI(title="lockgate", version="1", docs_url="/docs")
    store = Store(store_url)
    queue, access = Queue(store), Access(store)
    app.state.access = access

    def enqueue(trigger: Trigger, actor: str) -> JSONResponse:
        item, new = queue.enqueue(trigger)
        if new:
            access.record(actor, f"queue {trigger.event}", f"{trigger.repository} {trigger.ref}")
        return JSONResponse({"queued": True, "new": new, "id": item.id}, 201 if new else 200)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/{forge}")
    async def webhook(forge: str, request: Request) -> JSONResponse:
        if forge not in FORGES:
            raise HTTPException(404, f"no webhook for {forge!r}; use one of {', '.join(FORGES)}")
        body = await _body(request)
        try:
            webhooks.verify(forge, webhook_secret, request.headers, body)
        except webhooks.Unauthorized as exc:
            raise HTTPException(401, str(exc)) from None
        try:
            trigger = webhooks.parse(forge, request.headers, body)
        except webhooks.BadDelivery as exc:
            raise HTTPException(400, str(exc)) from None
        if trigger is None:
            return JSONResponse({"queued": False, "reason": "this delivery asks for no run"})
        return enqueue(trigger, forge)

    @app.post("/api/v1/hooks/git")
    async def git_hook(push: GitPush, request: Request) -> JSONResponse:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), hook_token.encode()):
            raise HTTPException(401, "the hook token is missing or wrong")
        if set(push.after) == {"0"}:
            return JSONResponse({"queued": False, "reason": "a deleted ref"})
        payload = {"ref": push.ref, "before": push.before, "after": push.after,
                   "repository": {"clone_url": push.repository}}  # fmt: skip
        delivery = f"git:{push.repository}:{push.ref}:{push.before}:{push.after}"
        trigger = Trigger("git", delivery, "push", push.repository, push.ref, push.after,
                          push.before, payload)  # fmt: skip
        return enqueue(trigger, "git hook")

    @app.post("/api/v1/runs")
    def manual(run: ManualRun, caller: Operator) -> JSONResponse:
        payload = {"ref": run.ref, "inputs": run.inputs,
                   "repository": {"clone_url": run.repository}}  # fmt: skip
        delivery = f"manual:{caller.name}:{uuid.uuid4()}"
        trigger = Trigger("manual", delivery, "workflow_dispatch", run.repository, run.ref,
                          run.ref, None, payload)  # fmt: skip
        return enqueue(trigger, caller.name)

    @app.get("/api/v1/audit")
    def trail(_: Admin, limit: int = 100) -> list[AuditEvent]:
        return access.trail(min(max(limit, 1), 1000))

    @app.get("/api/v1/queue")
    def listed(_: Viewer, limit: int = 100) -> list[dict[str, Any]]:
        return [_item(item) for item in queue.listed(min(max(limit, 1), 1000))]

    @app.get("/api/v1/queue/{item_id}")
    def one(item_id: int, _: Viewer) -> dict[str, Any]:
        item = queue.get(item_id)
        if item is None:
            raise HTTPException(404, f"no queued run {item_id}")
        return _item(item)

    @app.get("/api/v1/runs/{run_id}")
    def run(run_id: int, _: Viewer) -> dict[str, Any]:
        found = store.get_run(run_id)
        if found is None:
            raise HTTPException(404, f"no run {run_id}")
        return found

    @app.get("/api/v1/runs/{run_id}/logs")
    def stream(run_id: int, _: Viewer, after: int = 0) -> StreamingResponse:
        """The run's log as server-sent events (`line`, then `end` once the run completed),
        from after line `after`: a client that reconnects loses nothing."""
        if store.get_run(run_id) is None:
            raise HTTPException(404, f"no run {run_id}")

        async def events() -> AsyncIterator[str]:
            seen = after
            while True:
                lines = await asyncio.to_thread(store.lines_after, run_id, seen)
                for line in lines:
                    seen = line.id
                    yield f"id: {line.id}\nevent: line\ndata: {json.dumps(asdict(line))}\n\n"
                if not lines:
                    found = await asyncio.to_thread(store.get_run, run_id)
                    if found is None or found["status"] != "running":
                        ended = {"conclusion": found["conclusion"] if found else None}
                        yield f"event: end\ndata: {json.dumps(ended)}\n\n"
                        return
                    await asyncio.sleep(LIVE_POLL)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/api/v1/insights/tests")
    def insights_tests(_: Viewer, days: float = 30) -> list[TestRecord]:
        return reports.tests_report(store, days)

    @app.get("/api/v1/insights/flaky")
    def insights_flaky(_: Viewer, days: float = 30, window: int = 50) -> list[FlakyTest]:
        return reports.flaky_report(store, days, window)

    @app.get("/api/v1/insights/slow")
    def insights_slow(
        _: Viewer, days: float = 30, budget: float = 600.0, top: int = 10
    ) -> reports.SlowReport:
        return reports.slow_report(store, days, budget, top)

    @app.get("/api/v1/insights/gates")
    def insights_gates(_: Viewer, days: float = 30) -> list[Gate]:
        return reports.gates_report(store, days, None)  # no checkout here: no owners

    @app.get("/api/v1/insights/dora")
    def insights_dora(
        _: Viewer, days: float = 30, env: str | None = None, app_name: str | None = None
    ) -> list[Metric]:
        return reports.dora_report(store, days, None, env, app_name)  # no lead time here

    @app.get("/api/v1/runs")
    def runs(_: Viewer, limit: int = 20) -> list[dict[str, Any]]:
        return store.list_runs(min(max(limit, 1), 1000))

    return app
