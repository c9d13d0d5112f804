"""The versioned JSON API, /api/v1: runs, jobs, logs (live), artifacts, the queue, schedules,
environments, deployments, analyses, incidents, insights, the audit trail. Reading needs the
viewer role; every change needs operator (admin for the trail) and is recorded in the audit
trail. The web UI calls these same endpoints."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from ..common.errors import UserError
from ..deploy.breakglass import Drill
from ..deploy.environment import DeployRefused
from ..deploy.gitops.sync import SyncReport, SyncRequest
from ..deploy.regionset import RegionsView
from ..deploy.status import StatusView
from ..insights import reports
from ..insights.dora import Metric
from ..insights.gates import Gate
from ..store import Store
from ..store.access import Access, AuditEvent
from ..store.database import RunFilter
from ..store.deployments import DeploymentRecords, Incident, Rollout
from ..store.gitops import EnvironmentSync, SourceState
from ..store.overrides import Override
from ..store.queue import Queue, QueuedRun, Trigger
from ..store.records import RunRecord, Status
from ..store.repositories import RepositoryRecords
from ..store.schedules import Schedule, Schedules
from ..testresults.flaky import FlakyTest, TestRecord
from . import alerts, ansi
from .auth import Admin, Operator, Viewer
from .doorbell import Doorbell
from .environments import (
    ACTIONS,
    Environments,
    NoGitops,
    StoredBundle,
    Summary,
    UnknownEnvironment,
)
from .lanes import Lanes
from .repositories import registration_of
from .reruns import NothingToRerun, Rerun, jobs_to_rerun
from .worker import REF, SOURCE

LIVE_POLL = 0.1  # seconds between looks at a running run's new log lines
router = APIRouter(prefix="/api/v1")


@dataclass(frozen=True)
class Services:
    """What the endpoints work on, made once per server."""

    store: Store
    queue: Queue
    access: Access
    schedules: Schedules
    environments: Environments
    home: Path  # the server's home: kept artifacts live under home/artifacts
    doorbell: Doorbell  # wakes idle workers
    repositories: RepositoryRecords  # what it runs: nothing else
    lanes: Lanes  # the merge queue's, per repository
    worker_silence: float = 15.0  # seconds without a heartbeat before a worker shows offline

    def enqueue(self, trigger: Trigger, actor: str) -> JSONResponse:
        """Queue `trigger` if its repository is registered; else 404, and audited."""
        if registration_of(self.repositories, trigger) is None:
            self.access.record(actor, "refused: unregistered repository",
                               f"{trigger.repository} {trigger.ref}")  # fmt: skip
            raise HTTPException(404, f"{trigger.repository} is not a repository this server "
                                     "runs: an admin registers it (lockgate repo add)")  # fmt: skip
        item, new = self.queue.enqueue(trigger)
        if new:
            self.doorbell.ring()
            self.access.record(
                actor, f"queue {trigger.event}", f"{trigger.repository} {trigger.ref}"
            )
        return JSONResponse({"queued": True, "new": new, "id": item.id}, 201 if new else 200)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


class ManualRun(BaseModel):
    """A run asked for through the API (workflow_dispatch), with its inputs."""

    repository: str = Field(pattern=SOURCE.pattern)
    ref: str = Field("refs/heads/main", pattern=f"^{REF}$")
    inputs: dict[str, str] = {}


class DeployRequest(BaseModel):
    digest: str = Field(pattern=r"^[0-9a-f]{12,64}$")  # or a unique prefix of 12 or more


class OverrideRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    ttl: str = Field("1h", max_length=32)  # 30m, 2h: at most the environment's max-ttl
    bypass: list[Literal["policy", "window", "analysis"]] = Field([], max_length=3)
    drill: bool = False


class GitopsSyncRequest(BaseModel):
    environments: list[str] = Field([], max_length=500)  # default: all
    override: str | None = Field(None, min_length=1, max_length=500)  # why, inside a window


class IncidentRequest(BaseModel):
    environment: str = Field(min_length=1, max_length=255)
    title: str = Field(min_length=1, max_length=500)


def _limit(limit: int) -> int:
    return min(max(limit, 1), 1000)


def queued_item(item: QueuedRun) -> dict[str, Any]:
    """A queue row as the API shows it: without the event payload, which can be large."""
    trigger = {k: v for k, v in asdict(item.trigger).items() if k != "payload"}
    return {**asdict(item), "trigger": trigger, "status": item.status.value}


def _run_or_404(found: Services, run_id: int) -> RunRecord:
    run = found.store.get_run(run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id}")
    return run


def item_of_run(found: Services, run_id: int) -> tuple[RunRecord, QueuedRun]:
    """The run and the queued run that started it (409 for a run the server did not start)."""
    run = _run_or_404(found, run_id)
    item = found.queue.get(run.trigger_id) if run.trigger_id else None
    if item is None:
        raise HTTPException(
            409, f"run {run_id} was not started by this server: stop or rerun it where it ran"
        )
    return run, item


# -- runs ------------------------------------------------------------------------------------------
Filters = Annotated[RunFilter, Depends()]  # ?workflow=&branch=&event=&outcome=&before=


@router.get("/runs")
def runs(request: Request, _: Viewer, filters: Filters, limit: int = 50) -> list[dict[str, Any]]:
    return [run.as_json() for run in services(request).store.find_runs(filters, _limit(limit))]


@router.post("/runs")
def manual(run: ManualRun, request: Request, caller: Operator) -> JSONResponse:
    payload = {"ref": run.ref, "inputs": run.inputs, "repository": {"clone_url": run.repository},
               "sender": {"login": caller.name}}  # fmt: skip
    delivery = f"manual:{caller.name}:{uuid.uuid4()}"
    trigger = Trigger("manual", delivery, "workflow_dispatch", run.repository, run.ref, run.ref,
                      None, payload)  # fmt: skip
    return services(request).enqueue(trigger, caller.name)


@router.get("/runs/{run_id}")
def run(run_id: int, request: Request, _: Viewer) -> dict[str, Any]:
    return _run_or_404(services(request), run_id).as_json()


@router.get("/runs/{run_id}/jobs")
def jobs(run_id: int, request: Request, _: Viewer) -> list[dict[str, Any]]:
    return [job.as_json() for job in _run_or_404(services(request), run_id).jobs]


@router.post("/runs/{run_id}/rerun")
def rerun(
    run_id: int, request: Request, caller: Operator, wanted: Rerun | None = None
) -> JSONResponse:
    """This run's workflow again, on the same commit and event (a new delivery): all its jobs,
    or (`{"failed": true}`, `{"job": ID}`) the failed ones or one, with their dependents."""
    found = services(request)
    run, item = item_of_run(found, run_id)
    try:
        jobs = jobs_to_rerun(run, wanted or Rerun())
    except NothingToRerun as exc:
        raise HTTPException(422, str(exc)) from None
    trigger = dataclasses.replace(
        item.trigger,
        delivery=f"rerun:{run_id}:{uuid.uuid4()}",
        workflow=run.workflow_file,
        jobs=jobs,
        # as GitHub's: what the chosen jobs need is taken from this run as it ended
        continues=run_id if jobs is not None else None,
    )
    return found.enqueue(trigger, caller.name)


@router.post("/runs/{run_id}/cancel")
def cancel_run(run_id: int, request: Request, caller: Operator) -> dict[str, Any]:
    found = services(request)
    return _cancel(found, item_of_run(found, run_id)[1].id, caller.name)


@router.get("/runs/{run_id}/logs")
def stream(run_id: int, request: Request, _: Viewer, after: int = 0) -> StreamingResponse:
    """The run's log as server-sent events (`line`, then `end` once the run completed), from
    after line `after`: a client that reconnects loses nothing. Each line comes with its
    colours as HTML."""
    store = services(request).store
    if store.run_state(run_id) is None:
        raise HTTPException(404, f"no run {run_id}")

    async def events() -> AsyncIterator[str]:
        seen = after
        while True:
            lines = await asyncio.to_thread(store.lines_after, run_id, seen)
            for line in lines:
                seen = line.id
                data = json.dumps({**asdict(line), "html": ansi.to_html(line.line)})
                yield f"id: {line.id}\nevent: line\ndata: {data}\n\n"
            if not lines:  # only the run's state is read while it is quiet, not the whole run
                state = await asyncio.to_thread(store.run_state, run_id)
                if state is None or state[0] != Status.RUNNING:
                    ended = {"conclusion": state[1] if state else None}
                    yield f"event: end\ndata: {json.dumps(ended)}\n\n"
                    return
                await asyncio.sleep(LIVE_POLL)

    return StreamingResponse(events(), media_type="text/event-stream")


@router.get("/runs/{run_id}/logs.txt")
def raw_log(run_id: int, request: Request, _: Viewer, job: str | None = None) -> PlainTextResponse:
    """The run's stored log (or one job's: its id, key or shown name) as text to download, a
    line each, with its time (UTC) and job, as GitHub's raw log has them."""
    store = services(request).store
    if store.run_state(run_id) is None:
        raise HTTPException(404, f"no run {run_id}")
    if job is not None:
        known = {n for j in _run_or_404(services(request), run_id).jobs for n in (j.key, j.name)}
        if job not in known:
            raise HTTPException(404, f"run {run_id} has no job {job!r}")
    text = "".join(
        f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(line.ts))}."
        f"{int(line.ts % 1 * 1000):03d}Z [{line.key}] {line.line}\n"
        for line in store.logs(run_id, [job] if job else [])
    )
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"run-{run_id}-{job or 'all'}")
    disposition = f'attachment; filename="{name}.log"'
    return PlainTextResponse(text, headers={"Content-Disposition": disposition})


@router.get("/runs/{run_id}/artifacts")
def artifacts(run_id: int, request: Request, _: Viewer) -> list[dict[str, Any]]:
    return [a.public() for a in _run_or_404(services(request), run_id).artifacts]


@router.get("/artifacts/{artifact_id}")
def artifact(artifact_id: int, request: Request, _: Viewer) -> StreamingResponse:
    """An artifact as a zip, as GitHub serves them. Only a directory where lockgate keeps
    artifacts is read, and no symbolic link in it is followed."""
    found = services(request)
    row = found.store.artifact(artifact_id)
    run = found.store.get_run(row.run_id) if row else None
    if row is None or run is None:
        raise HTTPException(404, f"no artifact {artifact_id}")
    roots = [found.home / "artifacts" / str(run.id),
             Path(run.repo_dir) / ".lockgate" / "artifacts" / str(run.id)]  # fmt: skip
    path = Path(row.path)
    if path.is_symlink() or not any(path.resolve().parent == r.resolve() for r in roots):
        raise HTTPException(404, f"artifact {artifact_id} is not where lockgate keeps artifacts")
    if not path.is_dir():
        raise HTTPException(410, f"artifact {artifact_id} is no longer kept")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file() and not any(p.is_symlink() for p in (file, *file.parents)):
                archive.write(file, file.relative_to(path).as_posix())
    buffer.seek(0)
    headers = {"content-disposition": f'attachment; filename="{row.name}.zip"'}
    return StreamingResponse(buffer, media_type="application/zip", headers=headers)


# -- the queue and schedules -----------------------------------------------------------------------
@router.get("/queue")
def listed(request: Request, _: Viewer, limit: int = 100) -> list[dict[str, Any]]:
    return [queued_item(item) for item in services(request).queue.listed(_limit(limit))]


@router.get("/queue/{item_id}")
def one(item_id: int, request: Request, _: Viewer) -> dict[str, Any]:
    found = services(request)
    item = found.queue.get(item_id)
    if item is None:
        raise HTTPException(404, f"no queued run {item_id}")
    return {**queued_item(item), "runs": found.store.runs_of_trigger(item_id)}


@router.post("/queue/{item_id}/cancel")
def cancel_item(item_id: int, request: Request, caller: Operator) -> dict[str, Any]:
    return _cancel(services(request), item_id, caller.name)


def _cancel(found: Services, item_id: int, actor: str) -> dict[str, Any]:
    item = found.queue.cancel(item_id)
    if item is None:
        raise HTTPException(404, f"no queued run {item_id}")
    found.access.record(actor, "cancel", f"queued run {item_id}")
    return queued_item(item)


@router.get("/schedules")
def schedules(request: Request, _: Viewer) -> list[Schedule]:
    return services(request).schedules.listed()


# -- environments, deployments, analyses -----------------------------------------------------------
def _environment_call(call: Any) -> Any:
    """Run an environment call; an unknown name is 404, a refused action 409 with why."""
    try:
        return call()
    except UnknownEnvironment as exc:
        raise HTTPException(404, exc.message) from None
    except (UserError, DeployRefused) as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/environments")
def environments(request: Request, _: Viewer) -> list[Summary]:
    return services(request).environments.overview()


@router.get("/environments/{name}")
def environment(name: str, request: Request, _: Viewer) -> RegionsView | StatusView:
    """Where an environment stands; one that spans regions with each region and its
    releases (RegionsView first: a StatusView alone would drop them)."""
    found = services(request).environments
    view: StatusView = _environment_call(lambda: found.status(name))
    return view


@router.get("/bundles")
def stored_bundles(request: Request, _: Viewer, limit: int = 20) -> list[StoredBundle]:
    """The bundles built in --deployments, newest first: what can be deployed."""
    return services(request).environments.bundles(_limit(limit))


@router.get("/environments/{name}/deployments")
def deployments(name: str, request: Request, _: Viewer, limit: int = 20) -> list[Rollout]:
    found = services(request).environments
    history: list[Rollout] = _environment_call(lambda: found.history(name, _limit(limit)))
    return history


@router.post("/environments/{name}/deploy")
def deploy(name: str, wanted: DeployRequest, request: Request, caller: Operator) -> Rollout:
    found = services(request)
    try:
        rollout: Rollout = _environment_call(
            lambda: found.environments.deploy(name, wanted.digest, caller.name)
        )
    except HTTPException as exc:
        if exc.status_code == 409:  # refused (policies, provenance): the attempt is audited
            found.access.record(caller.name, "deploy refused", f"{name}: {exc.detail}")
        raise
    found.access.record(caller.name, "deploy", f"{name} {rollout.digest[:12]}")
    return rollout


@router.get("/environments/{name}/overrides")
def overrides(name: str, request: Request, _: Viewer) -> list[Override]:
    found: list[Override] = _environment_call(
        lambda: services(request).environments.overrides(name)
    )
    return found


@router.post("/environments/{name}/overrides", status_code=201)
def override(name: str, wanted: OverrideRequest, request: Request, caller: Admin) -> Drill:
    """Break glass (admins): bypass gates of the environment for a while, or rehearse it."""
    found = services(request)
    done: Drill = _environment_call(
        lambda: found.environments.override(
            name, list(wanted.bypass), wanted.reason, wanted.ttl, caller.name, wanted.drill
        )
    )
    what = "override drill" if wanted.drill else "override"
    found.access.record(caller.name, what, done.override.describe(time.time()))
    return done


@router.post("/overrides/{override_id}/{verb}")
def decide_override(override_id: int, verb: str, request: Request, caller: Admin) -> Drill:
    """approve (a second admin) or revoke an override."""
    found = services(request)
    environments = found.environments
    calls = {
        "approve": lambda: environments.approve_override(override_id, caller.name),
        "revoke": lambda: Drill(environments.revoke_override(override_id, caller.name)),
    }
    if verb not in calls:
        raise HTTPException(404, f"no action {verb!r}; use approve or revoke")
    done: Drill = _environment_call(calls[verb])
    found.access.record(caller.name, f"override {verb}", done.override.describe(time.time()))
    return done


@router.post("/environments/{name}/{action}")
def act(name: str, action: str, request: Request, caller: Operator) -> Rollout:
    if action not in ACTIONS:
        raise HTTPException(404, f"no action {action!r}; use one of {', '.join(ACTIONS)}")
    found = services(request)
    rollout: Rollout = _environment_call(lambda: found.environments.act(name, action, caller.name))
    found.access.record(caller.name, action, f"{name} deployment {rollout.id}")
    return rollout


# -- GitOps ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GitopsState:
    source: SourceState
    environments: list[EnvironmentSync]
    actions: list[str]


def _gitops_call(call: Any) -> GitopsState:
    """A GitOps call; 404 when the server follows no config repository, 422 when it asks for
    what the config has not."""
    try:
        report: SyncReport = call()
    except NoGitops as exc:
        raise HTTPException(404, str(exc)) from None
    except UserError as exc:  # an environment the config does not have
        raise HTTPException(422, str(exc)) from None
    return GitopsState(report.source, report.environments, report.actions)


@router.get("/gitops")
def gitops(request: Request, _: Viewer) -> GitopsState:
    """The config repository's last fetch, and per environment its sync status, health,
    config commit applied and the live diff."""
    return _gitops_call(services(request).environments.gitops_state)


@router.post("/gitops/sync")
def gitops_sync(wanted: GitopsSyncRequest, request: Request, caller: Operator) -> GitopsState:
    """Sync now: apply whatever differs from git (drift included); inside a deny window only
    with an `override` reason, which the audit trail keeps."""
    found = services(request)
    ask = SyncRequest(True, frozenset(wanted.environments), wanted.override, caller.name)
    state = _gitops_call(lambda: found.environments.gitops_sync(ask))
    said = f"override: {wanted.override}" if wanted.override else "manual"
    found.access.record(
        caller.name, "gitops sync", f"{','.join(wanted.environments) or 'all'} ({said})"
    )
    return state


@router.get("/deployments/{deployment_id}/analyses")
def analyses(deployment_id: int, request: Request, _: Viewer) -> dict[str, Any]:
    found = services(request).environments.analyses(deployment_id)
    if found is None:
        raise HTTPException(404, f"no deployment {deployment_id}")
    rollout, rows = found
    return {"deployment": asdict(rollout), "analyses": [asdict(row) for row in rows]}


# -- incidents (DORA) ------------------------------------------------------------------------------
@router.get("/incidents")
def incidents(request: Request, _: Viewer, days: float = 30) -> list[Incident]:
    records = DeploymentRecords(services(request).store)
    return records.incidents(time.time() - days * 86400)


@router.post("/incidents", status_code=201)
def open_incident(wanted: IncidentRequest, request: Request, caller: Operator) -> Incident:
    found = services(request)
    incident = DeploymentRecords(found.store).open_incident(
        wanted.environment, wanted.title, time.time()
    )
    found.access.record(caller.name, "open incident", f"{wanted.environment}: {wanted.title}")
    return incident


@router.post("/incidents/alertmanager")
async def alertmanager(
    request: Request, caller: Operator, environment: str | None = None
) -> dict[str, list[int]]:
    """Alertmanager's webhook: a firing alert opens an incident (once), a resolved one
    resolves it."""
    found = services(request)
    try:
        told = alerts.changes(json.loads(await request.body()), environment)
    except (ValueError, alerts.BadAlert) as exc:
        raise HTTPException(400, str(exc)) from None
    records = DeploymentRecords(found.store)
    opened, resolved = [], []
    for change in told:
        standing = records.open_incidents(change.environment, change.title)
        if change.firing and not standing:
            opened.append(records.open_incident(change.environment, change.title, time.time()).id)
        for incident in standing if not change.firing else []:
            if records.resolve_incident(incident.id, time.time()):
                resolved.append(incident.id)
    for number in opened:
        found.access.record(caller.name, "open incident", f"alert {number}")
    for number in resolved:
        found.access.record(caller.name, "resolve incident", f"alert {number}")
    return {"opened": opened, "resolved": resolved}


@router.post("/incidents/{incident_id}/resolve")
def resolve_incident(incident_id: int, request: Request, caller: Operator) -> dict[str, Any]:
    found = services(request)
    if not DeploymentRecords(found.store).resolve_incident(incident_id, time.time()):
        raise HTTPException(404, f"no open incident {incident_id}")
    found.access.record(caller.name, "resolve incident", str(incident_id))
    return {"resolved": incident_id}


# -- insights and the audit trail ------------------------------------------------------------------
@router.get("/insights/tests")
def insights_tests(request: Request, _: Viewer, days: float = 30) -> list[TestRecord]:
    return reports.tests_report(services(request).store, days)


@router.get("/insights/flaky")
def insights_flaky(
    request: Request, _: Viewer, days: float = 30, window: int = 50
) -> list[FlakyTest]:
    return reports.flaky_report(services(request).store, days, window)


@router.get("/insights/slow")
def insights_slow(
    request: Request, _: Viewer, days: float = 30, budget: float = 600.0, top: int = 10
) -> reports.SlowReport:
    return reports.slow_report(services(request).store, days, budget, top)


@router.get("/insights/gates")
def insights_gates(request: Request, _: Viewer, days: float = 30) -> list[Gate]:
    return reports.gates_report(services(request).store, days, None)  # no checkout: no owners


@router.get("/insights/dora")
def insights_dora(
    request: Request, _: Viewer, days: float = 30, env: str | None = None,
    app_name: str | None = None,
) -> list[Metric]:  # fmt: skip
    return reports.dora_report(services(request).store, days, None, env, app_name)


@router.get("/audit")
def trail(request: Request, _: Admin, limit: int = 100) -> list[AuditEvent]:
    return services(request).access.trail(_limit(limit))
