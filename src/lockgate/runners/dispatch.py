"""The run's side of a job on another machine (`engine.placement.JobPlacement`): the job is
recorded as an assignment (its secrets sealed), its message sent to the queue of its labels,
and the run's process waits on the assignment: it says why a job waits (no worker online with
its labels), passes a cancel on, and, when the worker stops beating, sends the job again to
another worker or reports it, as the repository chose for cut-off runs (lockgate.yml
`server: interrupted`). The job's records are the worker's, written through the server."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ..engine.placement import PlacedJob
from ..engine.state import FinishedJob, StepRun
from ..store import Store
from ..store.records import Conclusion, Status
from ..store.workers import (
    Assignment,
    AssignmentRecords,
    AssignmentState,
    WorkerRecord,
    WorkerRecords,
    offline_after,
)
from .celeryapp import Publisher
from .labels import can_run, queue_of, wanted
from .payload import JobPayload, secrets_used
from .sealing import seal

POLL = 0.2  # seconds between looks at the assignment
EXPLAIN_EVERY = 3.0  # seconds between looks at which workers could take a waiting job
MAX_ATTEMPTS = 3  # a job whose workers keep getting lost is reported after this many


@dataclasses.dataclass(frozen=True)
class RemoteSettings:
    store: Store
    publisher: Publisher
    seal_key: Path
    state_dir: Path  # the run's: where artifacts workers upload are kept
    send_lost_again: Callable[[str], bool]  # by workflow file: requeue (True) or report
    github_url: str
    kill_grace: float
    lost_after: float  # seconds without a beat from its worker: the job is taken as lost
    # lockgate.yml names files the job leaves in its workspace (on the worker: not cached here)
    declares_outputs: Callable[[str], bool]


class Watch:
    """One look at every assignment a run waits on per POLL (one query, not one per job), and
    at the workers online at most every EXPLAIN_EVERY: a 1,000-job matrix costs what one job
    does."""

    def __init__(self, store: Store, silent_for: float) -> None:
        self.records, self.workers = AssignmentRecords(store), WorkerRecords(store)
        self.silent_for = silent_for  # a worker silent this long is offline
        self.waiting: dict[int, list[asyncio.Future[Assignment]]] = {}
        self.task: asyncio.Task[None] | None = None
        self.seen: tuple[float, list[WorkerRecord]] = (0.0, [])

    async def next(self, assignment_id: int) -> Assignment:
        """The assignment as the next look finds it."""
        future: asyncio.Future[Assignment] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(assignment_id, []).append(future)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self.look())
        return await future

    async def look(self) -> None:
        while self.waiting:
            await asyncio.sleep(POLL)
            ids = list(self.waiting)
            found = await asyncio.to_thread(self.records.many, ids)
            for assignment_id in ids:
                for future in self.waiting.pop(assignment_id):
                    if not future.done():
                        future.set_result(found[assignment_id])

    def online(self) -> list[WorkerRecord]:
        at, workers = self.seen
        now = time.time()
        if now - at > EXPLAIN_EVERY:
            workers = [w for w in self.workers.all() if w.online(now, self.silent_for)]
            self.seen = (now, workers)
        return workers


class RemotePlacement:
    def __init__(self, settings: RemoteSettings) -> None:
        self.settings = settings
        self.watch = Watch(settings.store, offline_after(settings.lost_after))

    def place(self, placed: PlacedJob) -> RemoteJob:
        return RemoteJob(self.settings, self.watch, placed)


def waiting_reason(labels: tuple[str, ...], online: list[WorkerRecord]) -> str | None:
    """Why no worker takes the job now (none online has its labels), else None."""
    if any(can_run(w.labels, labels) for w in online):
        return None
    wanted_text = ", ".join(labels) if labels else "none beyond self-hosted, linux"
    if not online:
        return f"waiting for a worker: none is online (labels wanted: {wanted_text})"
    return (f"waiting for a worker with the labels {wanted_text}: none of the {len(online)} "
            "online has them all")  # fmt: skip


class RemoteJob:
    def __init__(self, settings: RemoteSettings, watch: Watch, placed: PlacedJob) -> None:
        self.settings, self.watch, self.placed = settings, watch, placed
        self.cancel_requested = False
        self.records = AssignmentRecords(settings.store)

    def cancel(self) -> None:
        self.cancel_requested = True

    def payload(self) -> JobPayload:
        placed, job = self.placed, self.placed.job
        github = dataclasses.asdict(placed.github) | {"token": ""}
        contexts = {k: v for k, v in placed.contexts.items() if k not in ("secrets", "github")}
        return JobPayload(
            run_id=placed.run_id, job_row=job.row, job_key=job.key, job_id=job.job_id,
            job_name=job.name, matrix=job.matrix, continue_on_error=job.continue_on_error,
            environment=job.environment, workflow=placed.workflow.data,
            workflow_display=placed.workflow.display, github=github, contexts=contexts,
            event_name=placed.github.event_name, actor=placed.github.actor,
            sha=placed.github.sha, github_url=self.settings.github_url,
            kill_grace=self.settings.kill_grace, cache_key=job.cache_key,
        )  # fmt: skip

    async def execute(
        self, on_success: Callable[[FinishedJob], Awaitable[None]] | None = None
    ) -> None:
        placed, job, settings = self.placed, self.placed.job, self.settings
        if self.cancel_requested:
            return self.end(Conclusion.CANCELLED, "cancelled before it started")
        labels = wanted(placed.labels)
        data = placed.workflow.data
        all_secrets = placed.contexts.get("secrets")
        secrets = secrets_used(data["jobs"][job.job_id], data.get("env"),
                               all_secrets if isinstance(all_secrets, dict) else {})  # fmt: skip
        sealed = seal(settings.seal_key, {k: str(v) for k, v in secrets.items()})
        queue = queue_of(labels)
        assignment = self.records.create(placed.run_id, job.row, labels, queue,
                                         self.payload().model_dump_json(), sealed,
                                         str(settings.state_dir))  # fmt: skip
        await asyncio.to_thread(settings.publisher.send, queue, assignment.id, 1)
        explained, said, current = 0.0, None, assignment
        while True:
            if self.cancel_requested and not current.cancel:
                await asyncio.to_thread(self.records.request_cancel, assignment.id)
            match current.state:
                case AssignmentState.CANCELLED:
                    return self.end(Conclusion.CANCELLED, "cancelled before a worker took it")
                case AssignmentState.DONE:
                    self.ended()
                    if on_success is not None and job.conclusion == Conclusion.SUCCESS:
                        await self.keep(on_success, current)
                    return None
                case AssignmentState.QUEUED if time.monotonic() - explained > EXPLAIN_EVERY:
                    explained = time.monotonic()
                    reason = waiting_reason(labels, self.watch.online())
                    if reason != said:
                        said = reason
                        placed.recorder.job_changed(job, message=reason)
                case AssignmentState.RUNNING if time.time() - (current.beat_at or 0) > (
                    settings.lost_after
                ):
                    lost = (
                        f"worker {current.worker} was lost (no word for {settings.lost_after:g} s)"
                    )
                    again = settings.send_lost_again(placed.workflow.display)
                    if again and current.attempt < MAX_ATTEMPTS:
                        # taken back (unless it ended meanwhile), wiped, and only then sent
                        if self.records.send_again(assignment.id, current.worker or "",
                                                   current.attempt):  # fmt: skip
                            settings.store.clear_job(job.row, f"{lost}; sent again")
                            await asyncio.to_thread(settings.publisher.send, queue,
                                                    assignment.id, current.attempt + 1)  # fmt: skip
                    else:
                        self.records.give_up(assignment.id, lost)
                        return self.end(Conclusion.FAILURE, f"{lost} mid-job")
            current = await self.watch.next(assignment.id)

    async def keep(
        self, on_success: Callable[[FinishedJob], Awaitable[None]], done: Assignment
    ) -> None:
        """The job cache keeps what the worker recorded (steps, log, annotations, outputs,
        the artifacts it uploaded), unless the job leaves files its cache entry would need."""
        job, settings = self.placed.job, self.settings
        if settings.declares_outputs(job.job_id):
            return
        run = settings.store.get_run(self.placed.run_id)
        record = next((j for j in run.jobs if j.id == job.row), None) if run else None
        if run is None or record is None:
            return
        job.steps = [
            StepRun(s.number, s.name, s.status, s.outcome, s.conclusion, s.started_at,
                    s.finished_at, dict(s.outputs or {}))
            for s in record.steps
        ]  # fmt: skip
        uploaded = [(a.name, a.path, a.size) for a in run.artifacts if a.name in done.artifacts]
        await on_success(FinishedJob(job, self.placed.run_id, settings.state_dir, uploaded))

    def end(self, conclusion: Conclusion, message: str) -> None:
        job = self.placed.job
        job.status, job.conclusion, job.message = Status.COMPLETED, conclusion, message
        job.finished = time.time()
        self.placed.recorder.job_changed(job, status=Status.COMPLETED, conclusion=conclusion,
                                         message=message, finished_at=job.finished)  # fmt: skip

    def ended(self) -> None:
        """The worker reported the job's end: take what it recorded."""
        job = self.placed.job
        record = self.settings.store.get_job(job.row)
        if record is None or record.status != Status.COMPLETED or record.conclusion is None:
            return self.end(Conclusion.FAILURE, "its worker ended without recording an end")
        job.status, job.conclusion = Status.COMPLETED, record.conclusion
        job.outputs = dict(record.outputs or {})
        job.message, job.summary = record.message or "", record.summary or ""
        job.started, job.finished = record.started_at, record.finished_at
        return None
