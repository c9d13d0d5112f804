"""Runners on other machines, as typed records: the workers that say they are alive, and the
assignments (one job handed to one worker). Every move of an assignment is a compare-and-set
on its state, so a job delivered twice (a broker's redelivery, a lost worker's job sent
again) is run by one worker only."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from . import tables as t
from .database import Store

HEARTBEAT_EVERY = 2.0  # seconds between a worker's heartbeats


def offline_after(lost_after: float) -> float:
    """Seconds without a heartbeat before a worker shows offline: the server's --lost-after,
    and never under three heartbeats."""
    return max(lost_after, 3 * HEARTBEAT_EVERY)


class WorkerState(enum.StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    DRAINING = "draining"  # finishing its jobs, taking no new ones
    STOPPED = "stopped"  # said goodbye
    OFFLINE = "offline"  # shown, never stored: no heartbeat for offline_after()


@dataclass(frozen=True)
class WorkerRecord:
    name: str
    labels: tuple[str, ...]
    concurrency: int
    host: str
    state: WorkerState
    drain: bool
    started_at: float
    last_seen: float
    address: str | None = None  # as the server sees its connections

    def shown_state(self, now: float, silent_for: float) -> WorkerState:
        """Its state, OFFLINE when it said nothing for `silent_for` seconds."""
        if self.state != WorkerState.STOPPED and now - self.last_seen > silent_for:
            return WorkerState.OFFLINE
        return self.state

    def online(self, now: float, silent_for: float) -> bool:
        return self.shown_state(now, silent_for) in (WorkerState.IDLE, WorkerState.BUSY)


class AssignmentState(enum.StrEnum):
    QUEUED = "queued"  # sent to the broker, no worker has it yet
    RUNNING = "running"  # a worker claimed it
    DONE = "done"  # the worker reported the job's end
    CANCELLED = "cancelled"  # cancelled before any worker took it
    LOST = "lost"  # its worker stopped beating; the job was sent again or reported


@dataclass(frozen=True)
class Assignment:
    id: int
    run_id: int
    job_row: int
    labels: tuple[str, ...]
    queue: str
    payload: str
    sealed_secrets: bytes | None
    server_dir: str
    state: AssignmentState
    attempt: int
    worker: str | None
    cancel: bool
    created_at: float
    claimed_at: float | None
    beat_at: float | None
    finished_at: float | None
    message: str | None
    artifacts: tuple[str, ...]  # what the job uploaded, by name


def _assignment(row: Any) -> Assignment:
    values = dict(row._mapping)
    values["labels"], values["artifacts"] = tuple(values["labels"]), tuple(values["artifacts"])
    return Assignment(**{**values, "state": AssignmentState(values["state"])})


def _worker(row: Any) -> WorkerRecord:
    values = dict(row._mapping)
    values["labels"] = tuple(values["labels"])
    return WorkerRecord(**{**values, "state": WorkerState(values["state"])})


class WorkerRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def heartbeat(
        self, name: str, labels: tuple[str, ...], concurrency: int, host: str, state: WorkerState,
        address: str | None = None,
    ) -> WorkerRecord:  # fmt: skip
        """The worker is alive (a new start clears an old drain); what the server holds."""
        now = time.time()
        with self.engine.begin() as conn:
            found = conn.execute(select(t.workers).where(t.workers.c.name == name)).first()
            values = {"labels": list(labels), "concurrency": concurrency, "host": host,
                      "state": state.value, "last_seen": now, "address": address}  # fmt: skip
            if found is None or found.state == WorkerState.STOPPED:
                conn.execute(delete(t.workers).where(t.workers.c.name == name))
                conn.execute(insert(t.workers).values(name=name, drain=False, started_at=now,
                                                      **values))  # fmt: skip
            else:
                conn.execute(update(t.workers).where(t.workers.c.name == name).values(**values))
            return _worker(conn.execute(select(t.workers).where(t.workers.c.name == name)).one())

    def get(self, name: str) -> WorkerRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.workers).where(t.workers.c.name == name)).first()
        return _worker(row) if row is not None else None

    def all(self) -> list[WorkerRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.workers).order_by(t.workers.c.name))
            return [_worker(row) for row in rows]

    def drain(self, name: str) -> bool:
        with self.engine.begin() as conn:
            query = update(t.workers).where(t.workers.c.name == name).values(drain=True)
            return bool(conn.execute(query).rowcount)


class AssignmentRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def create(self, run_id: int, job_row: int, labels: tuple[str, ...], queue: str,
               payload: str, sealed: bytes | None, server_dir: str) -> Assignment:  # fmt: skip
        values = {
            "run_id": run_id, "job_row": job_row, "labels": list(labels), "queue": queue,
            "payload": payload, "sealed_secrets": sealed, "server_dir": server_dir,
            "state": AssignmentState.QUEUED.value, "attempt": 1, "cancel": False,
            "created_at": time.time(), "artifacts": [],
        }  # fmt: skip
        with self.engine.begin() as conn:
            key = conn.execute(insert(t.job_assignments).values(**values)).inserted_primary_key
        found = self.get(int(key[0]))  # type: ignore[index]
        assert found is not None
        return found

    def get(self, assignment_id: int) -> Assignment | None:
        query = select(t.job_assignments).where(t.job_assignments.c.id == assignment_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _assignment(row) if row is not None else None

    def many(self, ids: list[int]) -> dict[int, Assignment]:
        query = select(t.job_assignments).where(t.job_assignments.c.id.in_(ids))
        with self.engine.connect() as conn:
            return {row.id: _assignment(row) for row in conn.execute(query)}

    def _move(self, assignment_id: int, when: Any, **values: Any) -> bool:
        column = t.job_assignments.c
        query = update(t.job_assignments).where(column.id == assignment_id, when).values(**values)
        with self.engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def claim(self, assignment_id: int, worker: str, attempt: int) -> bool:
        """The worker takes it: only a queued assignment of that attempt, not cancelled."""
        column, now = t.job_assignments.c, time.time()
        when = (column.state == AssignmentState.QUEUED.value) & (column.attempt == attempt) & (
            column.cancel.is_(False))  # fmt: skip
        return self._move(assignment_id, when, state=AssignmentState.RUNNING.value,
                          worker=worker, claimed_at=now, beat_at=now)  # fmt: skip

    def beat(self, assignment_id: int, worker: str) -> Assignment | None:
        """The worker still runs it; the assignment (its cancel flag), or None when it is not
        this worker's running job any more."""
        column = t.job_assignments.c
        when = (column.state == AssignmentState.RUNNING.value) & (column.worker == worker)
        if not self._move(assignment_id, when, beat_at=time.time()):
            return None
        return self.get(assignment_id)

    def finish(self, assignment_id: int, worker: str, message: str | None = None) -> bool:
        column = t.job_assignments.c
        when = (column.state == AssignmentState.RUNNING.value) & (column.worker == worker)
        ended = {"finished_at": time.time(), "sealed_secrets": None, "message": message}
        return self._move(assignment_id, when, state=AssignmentState.DONE.value, **ended)

    def uploaded(self, assignment: Assignment, name: str) -> None:
        """The job (running) uploaded artifact `name`."""
        names = sorted({*assignment.artifacts, name})
        self._move(assignment.id, t.job_assignments.c.state == AssignmentState.RUNNING.value,
                   artifacts=names)  # fmt: skip

    def request_cancel(self, assignment_id: int) -> None:
        """Asked to stop: a queued one is cancelled at once, a running one at its next beat."""
        column = t.job_assignments.c
        self._move(assignment_id, column.state == AssignmentState.QUEUED.value,
                   state=AssignmentState.CANCELLED.value, finished_at=time.time(),
                   sealed_secrets=None)  # fmt: skip
        self._move(assignment_id, column.state == AssignmentState.RUNNING.value, cancel=True)

    def send_again(self, assignment_id: int, worker: str, attempt: int) -> bool:
        """Its worker `worker` was lost on attempt `attempt`: queued again as the next one."""
        column = t.job_assignments.c
        when = (column.state == AssignmentState.RUNNING.value) & (column.worker == worker) & (
            column.attempt == attempt)  # fmt: skip
        return self._move(assignment_id, when, state=AssignmentState.QUEUED.value,
                          attempt=attempt + 1, worker=None, claimed_at=None, beat_at=None,
                          artifacts=[],
                          message=f"worker {worker} was lost on attempt {attempt}")  # fmt: skip

    def give_up(self, assignment_id: int, message: str) -> bool:
        column = t.job_assignments.c
        return self._move(assignment_id, column.state == AssignmentState.RUNNING.value,
                          state=AssignmentState.LOST.value, finished_at=time.time(),
                          sealed_secrets=None, message=message)  # fmt: skip

    def abandon_orphans(self) -> int:
        """Assignments whose run's process is gone (the run no longer running: a server killed
        with its runs, a run's process killed): a queued one is cancelled, a running one told
        to stop at its worker's next beat. How many."""
        column = t.job_assignments.c
        orphans = (
            select(column.id)
            .join(t.runs, t.runs.c.id == column.run_id)
            .where(t.runs.c.status != "running")
        )
        now, active = time.time(), column.id.in_(orphans)
        with self.engine.begin() as conn:
            queued = conn.execute(update(t.job_assignments).where(
                active, column.state == AssignmentState.QUEUED.value).values(
                state=AssignmentState.CANCELLED.value, finished_at=now, sealed_secrets=None,
                message="its run ended without it")).rowcount  # fmt: skip
            running = conn.execute(update(t.job_assignments).where(
                active, column.state == AssignmentState.RUNNING.value,
                column.cancel.is_(False)).values(cancel=True)).rowcount  # fmt: skip
        return int(queued) + int(running)

    def running_on(self) -> dict[str, list[Assignment]]:
        """The running assignments, by worker."""
        column = t.job_assignments.c
        query = select(t.job_assignments).where(column.state == AssignmentState.RUNNING.value)
        found: dict[str, list[Assignment]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                assignment = _assignment(row)
                found.setdefault(assignment.worker or "", []).append(assignment)
        return found

    def jobs_run(self) -> dict[str, int]:
        """How many jobs each worker ended."""
        column = t.job_assignments.c
        query = select(column.worker).where(column.state == AssignmentState.DONE.value)
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for (worker,) in conn.execute(query):
                counts[worker] = counts.get(worker, 0) + 1
        return counts

    def of_job(self, job_row: int) -> Assignment | None:
        """The latest assignment of a job: which worker ran it."""
        column = t.job_assignments.c
        query = select(t.job_assignments).where(column.job_row == job_row).order_by(
            column.id.desc()).limit(1)  # fmt: skip
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _assignment(row) if row is not None else None
