"""The server's durable queue: every trigger becomes a row before it is acknowledged, so a
server killed with `kill -9` loses nothing; a worker claims a row atomically (one UPDATE from
queued to running), runs it and records how it ended.

A running row names its server's process (`host:pid/n`) and holds a lease its server renews.
A server tells a row cut off by a dead server on its own machine at once (the pid is gone),
and one of a server on another machine sharing the store when the lease has run out."""

from __future__ import annotations

import dataclasses
import enum
import os
import socket
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import Row, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..common.events import sender
from . import tables as t
from .database import Store, interrupt_runs, pid_alive


class QueueStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    INTERRUPTED = "interrupted"  # its worker died; requeued, or left so when asked
    CANCELLED = "cancelled"  # an operator cancelled it before a worker took it


@dataclass(frozen=True)
class Trigger:
    """Something that asks for a run: a push, a pull request, a tag, a manual run."""

    source: str  # github | gitea | gitlab | git | manual
    delivery: str  # unique per delivery: a redelivered one is recognised
    event: str  # push | pull_request | workflow_dispatch
    repository: str  # where the code is fetched from
    ref: str
    after: str  # the commit to run
    before: str | None = None
    payload: dict[str, Any] = dataclasses.field(default_factory=dict)
    workflow: str | None = None  # only this workflow file runs (a schedule's, a rerun's)
    jobs: list[str] | None = None  # only these jobs (and what they need): a rerun of some
    continues: int | None = None  # the run whose held or other jobs this one takes as ended
    clearances: dict[str, dict[str, Any]] | None = None  # environment -> what was cleared
    not_before: float | None = None  # it may not start before (an environment's wait timer)

    @property
    def actor(self) -> str:
        """Who caused it, as GitHub's `github.actor`: the event's sender, else its pusher."""
        return sender(self.payload) or "lockgate"


@dataclass(frozen=True)
class QueuedRun:
    id: int
    trigger: Trigger
    status: QueueStatus
    created_at: float
    started_at: float | None
    finished_at: float | None
    worker: str | None
    exit_code: int | None
    message: str | None
    cancel: bool = False  # an operator asked to cancel it while it ran
    on_interrupt: InterruptPolicy | None = None  # its repository's lockgate.yml says
    plan: dict[str, Any] | None = None  # what it runs: the engine's Plan, as `run --list -o json`
    lease_until: float | None = None  # its server renews it while it runs


@dataclass(frozen=True)
class InterruptPolicy:
    """What to do with a run a dead server cut off: requeue | report, per workflow file name,
    else the repository's default, else the server's."""

    default: str | None = None
    workflows: dict[str, str] = dataclasses.field(default_factory=dict)

    def choice(self, workflow_file: str | None, server_default: str) -> str:
        name = PurePosixPath(workflow_file).name if workflow_file else ""
        return self.workflows.get(name) or self.default or server_default


LEASE = 15.0  # seconds a running row stays its server's without a renewal (`--lost-after`)


def renew_every(lease: float) -> float:
    """Seconds between a server's renewals: three within a lease, as a busy store may delay one."""
    return min(5.0, lease / 3)


def worker_name(number: int) -> str:
    """`host:pid/n`: enough to tell, after a crash, whether a row's worker still lives."""
    return f"{this_process()}/{number}"


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _orphaned(worker: str | None, lease_until: float | None, now: float) -> bool:
    """Whether a running row's server is gone: its process, on this machine; its lease,
    on another (a row from before leases has none: only its own machine can tell)."""
    host, _, rest = (worker or "").rpartition(":")
    if host != socket.gethostname():
        return lease_until is not None and lease_until < now
    pid = rest.partition("/")[0]
    return not (pid.isdigit() and pid_alive(int(pid)))


def _queued(row: Row[Any]) -> QueuedRun:
    values = dict(row._mapping)
    trigger = Trigger(**{f.name: values.pop(f.name) for f in dataclasses.fields(Trigger)})
    values["status"] = QueueStatus(values["status"])
    policy = values["on_interrupt"]
    values["on_interrupt"] = InterruptPolicy(**policy) if isinstance(policy, dict) else None
    return QueuedRun(trigger=trigger, **values)


class Queue:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def enqueue(self, trigger: Trigger) -> tuple[QueuedRun, bool]:
        """The row for this trigger, and whether it is new (False: a redelivery)."""
        values = {
            **dataclasses.asdict(trigger),
            "status": QueueStatus.QUEUED.value,
            "created_at": time.time(),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.queue).values(**values))
            new = True
        except IntegrityError:
            new = False
        found = self.by_delivery(trigger.delivery)
        assert found is not None
        return found, new

    def by_delivery(self, delivery: str) -> QueuedRun | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.queue).where(t.queue.c.delivery == delivery)).first()
            return _queued(row) if row is not None else None

    def get(self, item_id: int) -> QueuedRun | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.queue).where(t.queue.c.id == item_id)).first()
            return _queued(row) if row is not None else None

    def listed(self, limit: int = 100) -> list[QueuedRun]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.queue).order_by(t.queue.c.id.desc()).limit(limit))
            return [_queued(row) for row in rows]

    def claim(self, worker: str, lease: float = LEASE) -> QueuedRun | None:
        """The oldest queued row, now running for `worker` and its for `lease` seconds; None
        when nothing waits. Two workers never get one row: the UPDATE only takes a row still
        queued."""
        while True:
            with self.engine.begin() as conn:
                due = or_(t.queue.c.not_before.is_(None), t.queue.c.not_before <= time.time())
                oldest = conn.execute(
                    select(t.queue.c.id)
                    .where(t.queue.c.status == QueueStatus.QUEUED.value, due)
                    .order_by(t.queue.c.id)
                    .limit(1)
                ).scalar()
                if oldest is None:
                    return None
                now = time.time()
                taken = conn.execute(
                    update(t.queue)
                    .where(t.queue.c.id == oldest, t.queue.c.status == QueueStatus.QUEUED.value)
                    .values(
                        status=QueueStatus.RUNNING.value,
                        started_at=now,
                        worker=worker,
                        lease_until=now + lease,
                    )
                ).rowcount
            if taken:
                found = self.get(oldest)
                assert found is not None
                return found

    def finish(self, item_id: int, exit_code: int, message: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.queue)
                .where(t.queue.c.id == item_id)
                .values(
                    status=QueueStatus.DONE.value,
                    finished_at=time.time(),
                    exit_code=exit_code,
                    message=message,
                )
            )

    def cancel(self, item_id: int) -> QueuedRun | None:
        """A queued row is cancelled at once; a running one is flagged for its worker, which
        stops the run. None when there is no such row."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.queue)
                .where(t.queue.c.id == item_id, t.queue.c.status == QueueStatus.QUEUED.value)
                .values(
                    status=QueueStatus.CANCELLED.value,
                    finished_at=time.time(),
                    message="cancelled before it started",
                )
            )
            conn.execute(
                update(t.queue)
                .where(t.queue.c.id == item_id, t.queue.c.status == QueueStatus.RUNNING.value)
                .values(cancel=True)
            )
        return self.get(item_id)

    def cancel_asked(self, item_id: int) -> bool:
        with self.engine.connect() as conn:
            query = select(t.queue.c.cancel).where(t.queue.c.id == item_id)
            return bool(conn.execute(query).scalar())

    def set_plan(self, item_id: int, plan: dict[str, Any]) -> None:
        """What the row runs, as planned once its commit was fetched."""
        with self.engine.begin() as conn:
            conn.execute(update(t.queue).where(t.queue.c.id == item_id).values(plan=plan))

    def choose_interrupt(self, item_id: int, policy: InterruptPolicy) -> None:
        """What to do with this row's runs if its server dies while they run."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.queue)
                .where(t.queue.c.id == item_id)
                .values(on_interrupt=dataclasses.asdict(policy))
            )

    def renew(self, lease: float = LEASE) -> int:
        """Renew the leases of the rows this process runs, for `lease` seconds; how many."""
        mine = t.queue.c.worker.like(f"{this_process()}/%")
        with self.engine.begin() as conn:
            return int(conn.execute(
                update(t.queue)
                .where(t.queue.c.status == QueueStatus.RUNNING.value, mine)
                .values(lease_until=time.time() + lease)
            ).rowcount)  # fmt: skip

    def recover(self, requeue: bool = True) -> list[int]:
        """Rows whose server is gone (`_orphaned`): a row that started no run yet is queued
        again or marked interrupted as a whole; otherwise each of its unfinished runs'
        workflows is queued again on its own, or reported, as the repository chose per
        workflow (`InterruptPolicy`), else as `requeue` says, and those runs are marked
        interrupted. Returns the orphaned rows."""
        default = "requeue" if requeue else "report"
        now = time.time()
        with self.engine.begin() as conn:
            running = conn.execute(
                select(t.queue).where(t.queue.c.status == QueueStatus.RUNNING.value)
            ).all()
            found = [_queued(r) for r in running if _orphaned(r.worker, r.lease_until, now)]
            for item in found:
                self._recover(conn, item, default)
        return [item.id for item in found]

    @staticmethod
    def _recover(conn: Connection, item: QueuedRun, default: str) -> None:
        policy = item.on_interrupt or InterruptPolicy()
        runs = conn.execute(
            select(t.runs.c.id, t.runs.c.workflow_file, t.runs.c.status, t.runs.c.conclusion)
            .where(t.runs.c.trigger_id == item.id)
        ).all()  # fmt: skip
        # its runs' process went with its server (on another machine, nobody else can tell)
        interrupt_runs(conn, [run.id for run in runs if run.status == "running"])
        said = "its server stopped while it ran"
        if not runs:  # it died fetching: nothing ran, so the whole row goes one way
            whole = policy.choice(item.trigger.workflow, default) == "requeue"
            status = QueueStatus.QUEUED if whole else QueueStatus.INTERRUPTED
            conn.execute(
                update(t.queue)
                .where(t.queue.c.id == item.id)
                .values(status=status.value, worker=None, message=said)
            )
            return
        # Cut off: still marked running, or cancelled by the SIGTERM its dying server sent
        # (unless an operator had asked for that cancel).
        unfinished = [
            run.workflow_file
            for run in runs
            if run.status != "completed" or (run.conclusion == "cancelled" and not item.cancel)
        ]
        again = [w for w in unfinished if policy.choice(w, default) == "requeue"]
        for workflow in again:  # each on its own row, so a reported one is not run again
            trigger = dataclasses.replace(
                item.trigger, delivery=f"requeue:{item.id}:{workflow}", workflow=workflow
            )
            conn.execute(
                insert(t.queue).values(
                    **dataclasses.asdict(trigger),
                    status=QueueStatus.QUEUED.value,
                    created_at=time.time(),
                    message=f"queued again: queued run {item.id} was cut off",
                )
            )
        reported = [w for w in unfinished if w not in again]
        message = said + "".join(
            f"; {label}: {', '.join(names)}"
            for label, names in (("queued again", again), ("reported", reported))
            if names
        )
        conn.execute(
            update(t.queue)
            .where(t.queue.c.id == item.id)
            .values(status=QueueStatus.INTERRUPTED.value, worker=None, message=message)
        )
