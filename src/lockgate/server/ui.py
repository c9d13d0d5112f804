"""The web UI: server-rendered pages (Jinja2). Reading needs a session (log in with an API
token); buttons call the JSON API (static/app.js) with the page's CSRF token, and are shown
only to roles the API would let through. htmx refreshes the parts that change while one looks.
"""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ..common.errors import UserError
from ..deploy.environment import DeployRefused
from ..flags.service import FlagService
from ..store.access import Role, Token
from ..store.database import RunFilter
from ..store.mergequeue import MergeQueueRecords
from ..store.repositories import ForgeKind
from . import auth, views
from .api import Filters, Services, services
from .environments import UnknownEnvironment
from .flagguard import rollout_and_analyses
from .snapshots import InsightsSnapshots
from .workers import workers_json

PAGE = 50  # runs per page
# Pages load only their own files: an injected script or style would not run, and no other
# site may frame them.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)


def _clock(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) + " UTC" if at else ""


TONES = {
    "t-good": {"success", "healthy", "pass", "succeeded", "elite", "high", "Synced", "completed"},
    "t-bad": {"failure", "degraded", "fail", "failed", "rolled_back", "aborted", "interrupted",
              "unreadable", "low", "OutOfSync", "Unknown", "rolled-back"},
    "t-busy": {"running", "queued", "fetching", "in_progress", "paused", "awaiting_approval",
               "progressing", "inconclusive", "rolling_back", "medium", "rolling-back"},
}  # fmt: skip


def _tone(word: object) -> str:
    """A status word's colour class: the same word looks the same on every page."""
    return next((tone for tone, words in TONES.items() if str(word) in words), "")


templates.env.filters["clock"] = _clock
templates.env.filters["tone"] = _tone


def _viewer(request: Request) -> Token:
    """The session's holder; a browser without one is sent to log in."""
    holder = auth.caller(request)
    if holder is None:
        back = urllib.parse.quote(str(request.url.path))
        raise HTTPException(303, "log in first", headers={"Location": f"/login?next={back}"})
    return holder


def _render(request: Request, name: str, holder: Token | None, **context: Any) -> Response:
    keys: auth.Keys = request.app.state.keys
    response = templates.TemplateResponse(
        request,
        name,
        {
            "holder": holder,
            "operator": holder is not None and holder.role >= Role.OPERATOR,
            "admin": holder is not None and holder.role >= Role.ADMIN,
            "csrf": keys.csrf(request),
            **context,
        },
    )
    auth.ensure_csrf(request, response)
    response.headers.update(PAGE_HEADERS)
    return response


def error_page(request: Request, status: int, detail: str) -> Response:
    """What a browser gets for a page that cannot be shown: the reason, in the page."""
    holder = None
    try:
        holder = auth.caller(request)
    except HTTPException:
        holder = None
    response = _render(request, "error.html", holder, status=status, detail=detail)
    response.status_code = status
    return response


# -- logging in ------------------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, next: str = "/runs", failed: str = "") -> Response:
    return _render(request, "login.html", None, next=_local(next), failed=failed)


async def _form(request: Request) -> dict[str, str]:
    """A posted form's fields (the first of each), once its CSRF token is checked."""
    parsed = urllib.parse.parse_qs((await request.body()).decode(errors="replace"))
    form = {name: values[0] for name, values in parsed.items()}
    keys: auth.Keys = request.app.state.keys
    if not keys.csrf_ok(request, form.get("csrf", "")):
        raise HTTPException(403, "the CSRF token is missing or wrong; reload the page")
    return form


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    target = _local(form.get("next", "/runs"))
    keys: auth.Keys = request.app.state.keys
    session = keys.session(form.get("token", "").strip())
    if session is None:
        return RedirectResponse(f"/login?failed=1&next={urllib.parse.quote(target)}", 303)
    response = RedirectResponse(target, 303)
    response.set_cookie(auth.SESSION, session, max_age=auth.SESSION_SECONDS, httponly=True,
                        samesite="strict")  # fmt: skip
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await _form(request)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(auth.SESSION)
    return response


def _local(target: str) -> str:
    """Only a path on this server is a place to go back to (no open redirect: browsers read
    `//host` and `/\\host` as another site)."""
    return target if target.startswith("/") and target[1:2] not in ("/", "\\") else "/runs"


# -- runs ------------------------------------------------------------------------------------------
@router.get("/")
def home() -> Response:
    return RedirectResponse("/runs", 303)


def _runs_context(request: Request, found: Services, filters: RunFilter) -> dict[str, Any]:
    rows = [views.run_row(r) for r in found.store.find_runs(filters, PAGE)]
    query = {k: v for k, v in vars(filters).items() if v and k != "before"}
    older = None
    if len(rows) == PAGE:
        older = "?" + urllib.parse.urlencode({**query, "before": rows[-1].id})
    waiting = views.waiting(found.queue.listed(100), found.store) if not filters.before else []
    return {"rows": rows, "filters": filters, "older": older, "waiting": waiting,
            "query": urllib.parse.urlencode(query)}  # fmt: skip


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, filters: Filters) -> Response:
    holder = _viewer(request)
    found = services(request)
    return _render(request, "runs.html", holder, choices=found.store.run_choices(),
                   **_runs_context(request, found, filters))  # fmt: skip


@router.get("/runs/table", response_class=HTMLResponse)
def runs_table(request: Request, filters: Filters) -> Response:
    """The table alone: what the runs page refreshes every few seconds."""
    holder = _viewer(request)
    return _render(request, "_runs_table.html", holder,
                   **_runs_context(request, services(request), filters))  # fmt: skip


def _run(request: Request, run_id: int, template: str, with_logs: bool = True) -> Response:
    holder = _viewer(request)
    found = services(request)
    page = views.run_page(found.store, found.queue, run_id, with_logs)
    if page is None:
        raise HTTPException(404, f"no run {run_id}")
    return _render(request, template, holder, page=page)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int) -> Response:
    return _run(request, run_id, "run.html")


@router.get("/runs/{run_id}/graph", response_class=HTMLResponse)
def run_graph(request: Request, run_id: int) -> Response:
    """The job graph alone: what the run page refreshes while the run goes on."""
    return _run(request, run_id, "_graph.html", with_logs=False)


@router.get("/queue/{item_id}", response_class=HTMLResponse)
def queued_page(request: Request, item_id: int) -> Response:
    """A queued run: its run's page once there is one (the only one, or a list)."""
    holder = _viewer(request)
    found = services(request)
    item = found.queue.get(item_id)
    if item is None:
        raise HTTPException(404, f"no queued run {item_id}")
    runs = found.store.runs_of_trigger(item_id)
    if len(runs) == 1:
        return RedirectResponse(f"/runs/{runs[0]}", 303)
    rows = [views.run_row(r) for r in (found.store.get_run(n) for n in runs) if r]
    return _render(request, "queued.html", holder, item=item, rows=rows)


# -- environments ----------------------------------------------------------------------------------
@router.get("/environments", response_class=HTMLResponse)
def environments_page(request: Request) -> Response:
    holder = _viewer(request)
    found = services(request).environments
    return _render(request, "environments.html", holder, listed=found.overview(),
                   configured=found.repo is not None)  # fmt: skip


def _environment(request: Request, name: str, template: str, **extra: Any) -> Response:
    holder = _viewer(request)
    found = services(request).environments
    try:
        view = found.status(name)
        history = found.history(name, 10)
    except UnknownEnvironment:
        raise HTTPException(404, f"no environment {name!r}") from None
    except (UserError, DeployRefused) as exc:
        raise HTTPException(409, str(exc)) from None
    gitops = found.gitops_of(name)
    return _render(request, template, holder, view=view, history=history, gitops=gitops, **extra)


@router.get("/environments/{name}", response_class=HTMLResponse)
def environment_page(request: Request, name: str) -> Response:
    bundles = services(request).environments.bundles(10)  # what the deploy form offers
    return _environment(request, name, "environment.html", bundles=bundles)


@router.get("/environments/{name}/panel", response_class=HTMLResponse)
def environment_panel(request: Request, name: str) -> Response:
    return _environment(request, name, "_environment_panel.html")


@router.get("/deployments/{deployment_id}", response_class=HTMLResponse)
def deployment_page(request: Request, deployment_id: int) -> Response:
    holder = _viewer(request)
    found = services(request).environments.analyses(deployment_id)
    if found is None:
        raise HTTPException(404, f"no deployment {deployment_id}")
    rollout, analyses = found
    return _render(request, "deployment.html", holder, rollout=rollout, analyses=analyses)


# -- the API's description ------------------------------------------------------------------------
@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> Response:
    """The OpenAPI description as a page (no login: it holds no data), from /openapi.json."""
    described = request.app.openapi()
    operations = [
        (path, method.upper(), op)
        for path, methods in described["paths"].items()
        for method, op in methods.items()
    ]
    return _render(request, "api_docs.html", None, operations=operations,
                   version=described["info"]["version"])  # fmt: skip


# -- insights --------------------------------------------------------------------------------------
@router.get("/merge-queue", response_class=HTMLResponse)
def merge_queue_page(request: Request) -> Response:
    """The merge queue: changes waiting, under test, merged or failed; operators add one."""
    holder = _viewer(request)
    found = services(request)
    queueable = [r for r in found.repositories.all() if r.forge != ForgeKind.GITLAB]
    entries = MergeQueueRecords(found.store).listed()
    return _render(request, "merge_queue.html", holder, entries=entries, repositories=queueable)


@router.get("/workers", response_class=HTMLResponse)
def workers_page(request: Request) -> Response:
    """The runners on other machines: state, labels, current jobs, last heartbeat."""
    holder = _viewer(request)
    return _render(request, "workers.html", holder, workers=workers_json(services(request)))


@router.get("/insights", response_class=HTMLResponse)
def insights_page(request: Request, days: float = 30) -> Response:
    holder = _viewer(request)
    days = min(max(days, 1.0), 365.0)
    snapshots: InsightsSnapshots = request.app.state.snapshots
    return _render(request, "insights.html", holder, days=days, shot=snapshots.latest(days))


@router.get("/flags", response_class=HTMLResponse)
def flags_page(request: Request, environment: str = "production") -> Response:
    """An environment's flags: state, rollout, strategies, variants, stale ones, changes."""
    holder = _viewer(request)
    service: FlagService = request.app.state.flags
    try:
        features = service.client_features(environment).features
    except UserError as exc:
        raise HTTPException(400, exc.message) from None
    stale = {d.flag: d.reasons for d in service.debts(time.time(), 14, None)}
    environments = sorted({*service.records.environments(), environment})
    changes = service.records.changes(environment=environment, limit=20)
    rollouts = request.app.state.flag_guard.records.recent(environment=environment, limit=10)
    guarding = {r.flag: r for r in rollouts if r.state.active}
    segments = service.records.segments()
    sync = request.app.state.flag_sync.report
    drift = sync.result.drift if sync is not None else []
    drifted = {d.flag: d.detail for d in drift if d.environment == environment}
    return _render(request, "flags.html", holder, environment=environment, features=features,
                   environments=environments, stale=stale, changes=changes, rollouts=rollouts,
                   guarding=guarding, segments=segments,
                   segment_names={s.id: s.name for s in segments}, sync=sync,
                   drifted=drifted)  # fmt: skip


@router.get("/flags/rollouts/{rollout_id}", response_class=HTMLResponse)
def flag_rollout_page(request: Request, rollout_id: int) -> Response:
    """A guarded rollout: its steps, where it stands, and each measurement's charts."""
    holder = _viewer(request)
    rollout, analyses = rollout_and_analyses(request, rollout_id)
    return _render(request, "flag_rollout.html", holder, rollout=rollout, analyses=analyses)
