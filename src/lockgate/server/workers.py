"""Runners on other machines, through the API. `/api/v1/worker/...` is what `lockgate worker`
calls with its worker token (the worker's name is the token's): its heartbeat, and for a job
it holds, the claim (the job and its secrets), beats (and cancels), the records it writes, its
end, the commit as a git bundle, and the run's artifacts both ways. Every call about a job is
checked against the assignment: only the worker running it may write, only that job's rows.
`/api/v1/workers` is what people see: each worker's state, labels and current jobs."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..actions.builtin import artifact_root, valid_artifact_name
from ..runners.payload import (
    AddAnnotation,
    AddLogs,
    Beat,
    Claimed,
    CreateStep,
    FinishStep,
    Heartbeat,
    HeartbeatReply,
    JobPayload,
    Quarantines,
    Records,
    TestResults,
    TestsAsked,
    UpdateJob,
)
from ..runners.sealing import key_file, unseal
from ..store.access import Role, Token
from ..store.testresults import TestRecords
from ..store.workers import (
    Assignment,
    AssignmentRecords,
    AssignmentState,
    WorkerRecords,
    WorkerState,
)
from .api import Services, services
from .auth import Operator, Viewer, caller

router = APIRouter()


def _worker(request: Request) -> Token:
    holder = caller(request)
    if holder is None:
        raise HTTPException(401, "a worker token is required (Authorization: Bearer ...)")
    if holder.role != Role.WORKER:
        raise HTTPException(403, "this needs a worker token (lockgate token create NAME "
                                 "--role worker)")  # fmt: skip
    return holder


Worker = Annotated[Token, Depends(_worker)]


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempt: int = Field(ge=1)


@router.post("/api/v1/worker/heartbeat")
def heartbeat(beat: Heartbeat, request: Request, worker: Worker) -> HeartbeatReply:
    record = WorkerRecords(services(request).store).heartbeat(
        worker.name, tuple(beat.labels), beat.concurrency, beat.host, WorkerState(beat.state),
        request.client.host if request.client else None,
    )  # fmt: skip
    return HeartbeatReply(drain=record.drain, name=worker.name)


@router.post("/api/v1/worker/drain")
def drain_self(request: Request, worker: Worker) -> dict[str, str]:
    WorkerRecords(services(request).store).drain(worker.name)
    return {"draining": worker.name}


def _mine(found: Services, assignment_id: int, worker: Token) -> Assignment:
    """The assignment `worker` runs now; 409 when it is not (cancelled, sent again, ended)."""
    assignment = AssignmentRecords(found.store).get(assignment_id)
    if assignment is None:
        raise HTTPException(404, f"no job assignment #{assignment_id}")
    if assignment.state != AssignmentState.RUNNING or assignment.worker != worker.name:
        raise HTTPException(409, f"job assignment #{assignment_id} is not {worker.name}'s")
    return assignment


@router.post("/api/v1/worker/assignments/{assignment_id}/claim")
def claim(assignment_id: int, given: Claim, request: Request, worker: Worker) -> Claimed:
    found = services(request)
    records = AssignmentRecords(found.store)
    if not records.claim(assignment_id, worker.name, given.attempt):
        raise HTTPException(409, f"job assignment #{assignment_id} (attempt {given.attempt}) "
                                 "is not waiting for a worker")  # fmt: skip
    assignment = _mine(found, assignment_id, worker)
    sealed = assignment.sealed_secrets
    secrets = unseal(key_file(found.home), sealed) if sealed else {}
    # no longer waiting for a worker; which one runs it, and why again when it is again
    found.store.update_job(assignment.job_row, message=None, runner=worker.name)
    if assignment.attempt > 1 and assignment.message:
        again = f"{assignment.message}: attempt {assignment.attempt} runs on {worker.name}"
        found.store.add_annotation(assignment.job_row, 0, level="warning", message=again)
    return Claimed(payload=JobPayload.model_validate_json(assignment.payload), secrets=secrets)


@router.post("/api/v1/worker/assignments/{assignment_id}/beat")
def beat(assignment_id: int, request: Request, worker: Worker) -> Beat:
    found = services(request)
    _mine(found, assignment_id, worker)
    current = AssignmentRecords(found.store).beat(assignment_id, worker.name)
    if current is None:
        raise HTTPException(409, f"job assignment #{assignment_id} is not {worker.name}'s")
    return Beat(cancel=current.cancel)


@router.post("/api/v1/worker/assignments/{assignment_id}/records")
def record(assignment_id: int, sent: Records, request: Request, worker: Worker) -> dict[str, Any]:
    """The job's records, written as the worker's recorder wrote them: only its own rows."""
    found = services(request)
    assignment = _mine(found, assignment_id, worker)
    store, row = found.store, assignment.job_row
    made: list[int | None] = []
    for item in sent.records:
        made.append(None)
        match item:
            case UpdateJob(fields=fields):
                store.update_job(row, **fields.model_dump(exclude_none=True))
            case CreateStep(number=number, name=name):
                made[-1] = store.create_step(row, number, name)
            case FinishStep(step_row=step_row, logs=logs, fields=fields):
                if store.step_of(step_row) != row:
                    raise HTTPException(409, f"step row {step_row} is not this job's")
                store.finish_step(step_row, [(row, s, at, text) for s, at, text in logs],
                                  **fields.model_dump())  # fmt: skip
            case AddLogs(logs=logs):
                store.add_logs([(row, s, at, text) for s, at, text in logs])
            case AddAnnotation():
                values = item.model_dump(exclude={"op", "step"})
                store.add_annotation(row, item.step, **values)
    return {"made": made}


@router.post("/api/v1/worker/assignments/{assignment_id}/tests/{what}")
async def tests(assignment_id: int, what: str, request: Request, worker: Worker) -> Response:
    """The job's test results (only its own rows), the history of some tests, and the
    quarantines it honours or its project's policy sets."""
    found = services(request)
    assignment = _mine(found, assignment_id, worker)
    records, body = TestRecords(found.store), await request.body()
    try:
        match what:
            case "results":
                results = TestResults.validate_json(body)
                if any((r.run_id, r.job_row) != (assignment.run_id, assignment.job_row)
                       for r in results):  # fmt: skip
                    raise HTTPException(409, "test results of another job")
                records.add(results)
                answer = b"[]"
            case "history":
                asked = TestsAsked.model_validate_json(body)
                answer = TestResults.dump_json(records.of_tests(asked.tests, asked.since))
            case "quarantine":
                for entry in Quarantines.validate_json(body):
                    records.quarantine(entry)
                answer = b"[]"
            case "quarantines":
                answer = Quarantines.dump_json(records.quarantines())
            case _:
                raise HTTPException(404, f"no test call {what!r}")
    except ValidationError as exc:
        raise HTTPException(422, f"unreadable {what}: {exc.errors()[0]['msg']}") from None
    return Response(answer, media_type="application/json")


@router.post("/api/v1/worker/assignments/{assignment_id}/finish")
def finish(assignment_id: int, request: Request, worker: Worker) -> dict[str, str]:
    found = services(request)
    _mine(found, assignment_id, worker)
    if not AssignmentRecords(found.store).finish(assignment_id, worker.name):
        raise HTTPException(409, f"job assignment #{assignment_id} is not {worker.name}'s")
    return {"finished": str(assignment_id)}


@router.get("/api/v1/worker/assignments/{assignment_id}/source")
def source(assignment_id: int, request: Request, worker: Worker) -> FileResponse:
    """The run's commit as a git bundle (its history, so `git log` works on the worker),
    made once per run beside the run's checkout."""
    assignment = _mine(services(request), assignment_id, worker)
    state_dir = Path(assignment.server_dir)
    checkout = state_dir.parent
    bundle = state_dir / "bundles" / f"{JobPayload.model_validate_json(assignment.payload).sha}"
    if not bundle.exists():
        bundle.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=bundle.parent, suffix=".partial")
        os.close(handle)
        os.unlink(partial)  # git bundle writes it anew
        made = subprocess.run(["git", "-C", str(checkout), "bundle", "create", "-q", partial,
                               "HEAD"], capture_output=True, text=True)  # fmt: skip
        if made.returncode != 0:
            raise HTTPException(500, f"git bundle: {made.stderr.strip()}")
        os.replace(partial, bundle)
    return FileResponse(bundle, media_type="application/octet-stream")


@router.get("/api/v1/worker/assignments/{assignment_id}/artifacts")
def artifacts(assignment_id: int, request: Request, worker: Worker) -> Response:
    """The run's artifacts so far, as a tar (for download-artifact on the worker)."""
    assignment = _mine(services(request), assignment_id, worker)
    root = artifact_root(Path(assignment.server_dir), assignment.run_id)
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        if root.is_dir():
            tar.add(root, arcname=".")
    return Response(packed.getvalue(), media_type="application/gzip")


@router.put("/api/v1/worker/assignments/{assignment_id}/artifacts/{name}")
async def upload(assignment_id: int, name: str, request: Request, worker: Worker) -> dict[str, Any]:
    """An artifact the job uploaded: a tar, unpacked (regular files and directories only, all
    inside) where the run keeps its artifacts, and recorded."""
    found = services(request)
    assignment = _mine(found, assignment_id, worker)
    if not valid_artifact_name(name):
        raise HTTPException(422, f"invalid artifact name {name!r}")
    body = await request.body()
    root = artifact_root(Path(assignment.server_dir), assignment.run_id)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".upload-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
            tar.extractall(staging, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise HTTPException(422, f"the artifact is not a readable tar: {exc}") from None
    target = root / name
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    found.store.add_artifact(assignment.run_id, name, str(target), size)
    AssignmentRecords(found.store).uploaded(assignment, name)
    return {"name": name, "size": size}


# -- what people see ---------------------------------------------------------------------------
def workers_json(found: Services) -> list[dict[str, Any]]:
    now = time.time()
    assignments = AssignmentRecords(found.store)
    running, counts = assignments.running_on(), assignments.jobs_run()
    shown = []
    for record in WorkerRecords(found.store).all():
        state = record.shown_state(now, found.worker_silence)
        jobs = running.get(record.name, [])
        if state == WorkerState.IDLE and jobs:
            state = WorkerState.BUSY
        shown.append({
            "name": record.name, "labels": list(record.labels), "host": record.host,
            "address": record.address,
            "concurrency": record.concurrency, "state": state.value, "drain": record.drain,
            "last_heartbeat": record.last_seen, "started_at": record.started_at,
            "jobs_run": counts.get(record.name, 0),
            "current": [{"assignment": a.id, "run_id": a.run_id, "job_row": a.job_row,
                         "attempt": a.attempt} for a in jobs],
        })  # fmt: skip
    return shown


@router.get("/api/v1/workers")
def listed(request: Request, _: Viewer) -> list[dict[str, Any]]:
    return workers_json(services(request))


@router.post("/api/v1/workers/{name}/drain")
def drain(name: str, request: Request, who: Operator) -> dict[str, str]:
    found = services(request)
    if not WorkerRecords(found.store).drain(name):
        raise HTTPException(404, f"no worker named {name!r} has connected")
    found.access.record(who.name, "drain worker", name)
    return {"draining": name}
