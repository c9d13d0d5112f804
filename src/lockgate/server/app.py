"""The HTTP side of `lockgate serve` (FastAPI): webhooks and git hooks in (a trigger is in the
store before it is acknowledged), the JSON API (api.py) and the web UI (ui.py) out."""

from __future__ import annotations

import hmac
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..common.errors import UserError
from ..flags.guard import Guard
from ..flags.service import FlagService
from ..store import Store
from ..store.access import Access
from ..store.flagrollouts import RolloutRecords
from ..store.flags import FlagRecords
from ..store.queue import Queue
from ..store.repositories import ForgeKind, Repository, RepositoryRecords
from ..store.schedules import Schedules
from ..store.workers import offline_after
from . import (
    api,
    flagguard,
    flags,
    flagsegments,
    flagsync,
    merges,
    protections,
    queuecommands,
    repositories,
    reviews,
    ui,
    webhooks,
    workers,
)
from .auth import Keys
from .doorbell import Doorbell
from .environments import Environments, NoGitops
from .flagfeed import RevisionFeed
from .gitpush import GitPush
from .lanes import Lanes
from .limits import BoundedBodies, gone
from .mergequeue import obey
from .pullrequests import ForgeTrouble
from .repositories import secret_of
from .snapshots import InsightsSnapshots
from .statuses import Forge

FORGES = ("github", "gitea", "gitlab")
API_PATHS = ("/api/", "/ofrep/", "/webhooks/", "/healthz", "/docs", "/openapi.json")
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class ServerConfig:
    home: Path
    webhook_secret: bytes
    hook_token: str
    session_key: bytes
    deployments: Path | None  # the directory whose deployed environments the server drives
    forges: dict[str, Forge] = field(default_factory=dict)  # where statuses and plans go
    public_url: str = ""  # how forges link back
    lost_after: float = 15.0  # --lost-after: a silent worker's jobs go elsewhere, it shows offline


def create_app(config: ServerConfig, store: Store, doorbell: Doorbell) -> FastAPI:
    # /docs is lockgate's own page (ui.api_docs): Swagger UI would load from a CDN.
    app = FastAPI(title="lockgate", version="1", docs_url=None, redoc_url=None)
    access = Access(store)
    environments = Environments(config.deployments, store)
    services = api.Services(store, Queue(store), access, Schedules(store), environments,
                            config.home, doorbell, RepositoryRecords(store),
                            Lanes(store, config.forges, config.home, config.public_url),
                            offline_after(config.lost_after))  # fmt: skip
    app.state.services = services
    app.state.keys = Keys(config.session_key, access)
    app.state.snapshots = InsightsSnapshots(store)
    app.state.flags = FlagService(FlagRecords(store))
    app.state.flag_feed = RevisionFeed(app.state.flags.records.revision)
    app.state.flag_evaluators = flags.Evaluators(app.state.flags)
    app.state.flag_guard = Guard(app.state.flags, RolloutRecords(store))
    app.state.flag_sync = flagsync.FlagSync(app.state.services.environments, app.state.flags)

    app.add_middleware(BoundedBodies)  # every body capped and timed, whatever the route
    app.add_exception_handler(ClientDisconnect, gone)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        """A page a browser asked for gets its reason as a page; the API keeps JSON."""
        wants_page = "text/html" in request.headers.get("accept", "")
        if wants_page and exc.status_code >= 400 and not request.url.path.startswith(API_PATHS):
            return ui.error_page(request, exc.status_code, str(exc.detail))
        return await http_exception_handler(request, exc)

    @app.exception_handler(OverflowError)
    async def out_of_range(_request: Request, _exc: OverflowError) -> JSONResponse:
        """A number too large for the store (an id like 99999999999999999999): refused."""
        return JSONResponse({"detail": "a number in the request is out of range"}, 422)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/{forge}")
    async def webhook(forge: str, request: Request) -> JSONResponse:
        if forge not in FORGES:
            raise HTTPException(404, f"no webhook for {forge!r}; use one of {', '.join(FORGES)}")
        body = await request.body()
        about = webhooks.repository_of(forge, body)  # which registration's secret signs it
        registered = services.repositories.matching(about[0], ForgeKind(forge), about[1])
        secret = secret_of(config.home, registered) or config.webhook_secret
        try:
            webhooks.verify(forge, secret, request.headers, body)
        except webhooks.Unauthorized as exc:
            raise HTTPException(401, str(exc)) from None
        try:
            trigger = webhooks.parse(forge, request.headers, body)
        except webhooks.BadDelivery as exc:
            raise HTTPException(400, str(exc)) from None
        merge_queue = None
        if forge != "gitlab" and registered is not None:
            merge_queue = await run_in_threadpool(_merge_queue, forge, registered, request, body)
        if trigger is None:
            said = {"queued": False, "reason": "this delivery asks for no run"}
            return JSONResponse({**said, "merge_queue": merge_queue} if merge_queue else said)
        answer = services.enqueue(trigger, forge)
        if merge_queue:
            answer = JSONResponse({**json.loads(bytes(answer.body)), "merge_queue": merge_queue},
                                  answer.status_code)  # fmt: skip
        return answer

    def _merge_queue(
        forge: str, registered: Repository, request: Request, body: bytes
    ) -> str | None:
        """What the delivery asked of the merge queue, done; what came of it, or None."""
        event = webhooks.event_of(forge, request.headers)
        try:
            command = queuecommands.command_of(forge, event, webhooks.payload_of(body))
            if command is None:
                return None
            said = obey(services.lanes, registered, command)
        except (queuecommands.NotAllowed, UserError, ForgeTrouble) as exc:
            return f"not queued: {exc}"
        services.access.record(f"{forge}:{command.by}", "merge queue", said)
        return said

    @app.post("/api/v1/hooks/git")
    async def git_hook(push: GitPush, request: Request) -> JSONResponse:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), config.hook_token.encode()):
            raise HTTPException(401, "the hook token is missing or wrong")
        trigger = push.trigger()
        if trigger is None:
            return JSONResponse({"queued": False, "reason": "a deleted ref"})
        return services.enqueue(trigger, "git hook")

    @app.post("/api/v1/hooks/gitops", status_code=202)
    async def gitops_hook(request: Request) -> dict[str, str]:
        """The config repository changed: a forge's webhook (signed with the webhook secret) or
        a post-receive hook (the hook token). A push wakes the agent; nothing in its body is
        used (the agent fetches the repository it follows), so a delivery can only make a pass
        come sooner. A pull request opened or pushed to is planned, and the plan posted to
        the forge as a status and a comment."""
        body = await request.body()
        forge = "gitea" if request.headers.get("x-gitea-signature") else "github"
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not (given and hmac.compare_digest(given.encode(), config.hook_token.encode())):
            try:
                webhooks.verify(forge, config.webhook_secret, request.headers, body)
            except webhooks.Unauthorized as exc:
                raise HTTPException(401, str(exc)) from None
        event = request.headers.get(f"x-{forge}-event", "push")
        try:
            if event == "pull_request":
                return _plan_pull_request(forge, body)
            environments.gitops_wake()
        except NoGitops as exc:
            raise HTTPException(404, str(exc)) from None
        return {"sync": "requested"}

    def _plan_pull_request(forge: str, body: bytes) -> dict[str, str]:
        try:
            pull = reviews.pull_request_of(forge, json.loads(body))
        except (ValueError, AttributeError):
            raise HTTPException(400, "the delivery is not a JSON object") from None
        if pull is None:
            return {"plan": "not asked for by this delivery"}
        environments.gitops_state()  # NoGitops: 404 before anything is started
        reporter = config.forges.get(forge)
        if reporter is None:
            return {"plan": f"not posted: no {forge} token (LOCKGATE_{forge.upper()}_TOKEN)"}
        link = f"{config.public_url}/environments"
        threading.Thread(
            target=reviews.review, args=(environments, reporter, pull, link), daemon=True
        ).start()  # a plan fetches and looks: the forge is answered first
        return {"plan": "requested"}

    app.include_router(api.router)
    app.include_router(repositories.router)
    app.include_router(protections.router)
    app.include_router(merges.router)
    app.include_router(workers.router)
    app.include_router(flags.router)
    app.include_router(flags.ofrep_router)
    app.include_router(flagsegments.router)  # before flags' /{name}/... routes
    app.include_router(flags.api_router)
    app.include_router(flagguard.router)
    app.include_router(flagsync.router)
    app.include_router(ui.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
