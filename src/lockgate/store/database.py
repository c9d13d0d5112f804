"""The Store: every write commits at once, so a killed process loses nothing written."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    Select,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, ProgrammingError

from ..common.errors import UserError
from ..common.files import private_file
from . import tables as t
from .records import (
    AnnotationRecord,
    ArtifactRecord,
    Conclusion,
    JobRecord,
    LogLine,
    RunRecord,
    Status,
    StepRecord,
    conclusion_of,
)

HEAD_REVISION = "0017"
# The connection of the batch (Store.batch) the current task or thread writes in, if any.
_BATCH: ContextVar[Connection | None] = ContextVar("lockgate_store_batch", default=None)


def interrupt_runs(conn: Connection, dead: list[int]) -> None:
    """Mark these runs interrupted, with their unfinished jobs and steps: their process is gone."""
    if not dead:
        return
    now = time.time()
    conn.execute(
        update(t.runs)
        .where(t.runs.c.id.in_(dead))
        .values(status=Status.INTERRUPTED, finished_at=now)
    )
    conn.execute(
        update(t.jobs)
        .where(t.jobs.c.run_id.in_(dead), t.jobs.c.status.in_(LIVE))
        .values(status=Status.INTERRUPTED, finished_at=now)
    )
    jobs = select(t.jobs.c.id).where(t.jobs.c.run_id.in_(dead))
    conn.execute(
        update(t.steps)
        .where(t.steps.c.job_row.in_(jobs), t.steps.c.status == Status.RUNNING)
        .values(status=Status.INTERRUPTED, conclusion=Conclusion.CANCELLED, finished_at=now)
    )


LIVE = (Status.QUEUED, Status.RUNNING)
MIGRATIONS = Path(__file__).parent / "migrations"


def default_url(repo_dir: Path) -> str:
    """`LOCKGATE_DB`, else SQLite under the repository's `.lockgate/`."""
    configured = os.environ.get("LOCKGATE_DB")
    if configured:
        return configured
    return f"sqlite:///{(repo_dir / '.lockgate' / 'lockgate.db').resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _create_head(conn: Connection) -> None:
    """Every table of the head revision, and the revision, in one transaction."""
    t.metadata.create_all(conn)
    conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                      "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))  # fmt: skip
    conn.execute(
        text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD_REVISION}
    )


def pid_alive(pid: int | None) -> bool:
    """Whether a process of this host with that pid exists (one we may not signal counts). A
    zombie is dead: its parent died and its new one (a subreaper) may never collect it."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: the signal's answer stands
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


@dataclass(frozen=True)
class RunFilter:
    """What the runs page asks for; an empty field does not filter."""

    workflow: str = ""
    branch: str = ""
    event: str = ""
    outcome: str = ""  # success | failure | cancelled | running | interrupted
    before: int = 0  # only runs older than this id (the next page)


def _log_lines(run_id: int) -> Select[Any]:
    """A run's log lines as LogLine's columns: line id, job key, step, time, text."""
    lines, jobs = t.log_lines.c, t.jobs.c
    query = select(lines.id, jobs.key, lines.step, lines.ts, lines.line)
    return query.join(t.jobs, jobs.id == lines.job_row).where(jobs.run_id == run_id)


@cache
def _by_row(table: Any) -> Any:
    """UPDATE of one row by id, its SET clause the parameters given with it: one statement
    whose compiled form SQLAlchemy caches per set of columns, where `.values(...)` built and
    compiled a new one each time (half the cost of recording a restored job)."""
    return update(table).where(table.c.id == bindparam("row"))


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                database = Path(url.removeprefix("sqlite:///"))
                database.parent.mkdir(parents=True, exist_ok=True)
                if database.name != ":memory:":
                    private_file(database)  # SQLite gives its -wal and -shm the same mode
                # One pooled connection: connecting (and the pragmas) once, not per write.
                self.engine: Engine = create_engine(url, pool_size=1, max_overflow=4)
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
            self._migrate()
        except DatabaseError as exc:
            # Corrupted, or another program's database: say which file, never touch it.
            where = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
            if isinstance(exc, OperationalError) and not url.startswith("sqlite:///"):
                raise UserError(
                    f"cannot open the store {url!r}: {str(exc).splitlines()[0]}",
                    where="--db / LOCKGATE_DB",
                    hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB",
                ) from None
            raise UserError(
                f"not a usable lockgate store ({str(exc.orig or exc).splitlines()[0]})",
                where="--db / LOCKGATE_DB" if not url.startswith("sqlite:///") else where,
                hint=f"move it aside (mv {where} {where}.broken); lockgate then starts a new "
                "store (history in the old file is kept there)",
            ) from None
        except (ArgumentError, ModuleNotFoundError) as exc:
            raise UserError(
                f"cannot open the store {url!r}: {str(exc).splitlines()[0]}",
                where="--db / LOCKGATE_DB",
                hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB",
            ) from exc

    # -- schema -----------------------------------------------------------------
    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            revision = self._revision(conn)
            if revision == HEAD_REVISION:
                return
            tables = set(inspect(conn).get_table_names())
            if revision is None and tables - {"alembic_version"}:
                raise DatabaseError(
                    "", None, Exception(f"it holds other tables ({', '.join(sorted(tables))})")
                )
            if revision is None:  # a new store: the head schema at once, as the migrations
                _create_head(conn)  # make it (a test compares them), in a fifth of the time
                return
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    @staticmethod
    def _revision(conn: Connection) -> str | None:
        try:
            with conn.begin_nested():
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            return None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The run, job and step records written inside go in one transaction, on this
        task's or thread's behalf only (a job restored from the cache: one commit, not 80)."""
        if _BATCH.get() is not None:
            yield
            return
        with self.engine.begin() as conn:
            token = _BATCH.set(conn)
            try:
                yield
            finally:
                _BATCH.reset(token)

    def _writing(self) -> AbstractContextManager[Connection]:
        batch = _BATCH.get()
        return nullcontext(batch) if batch is not None else self.engine.begin()

    # -- runs -----------------------------------------------------------------------
    def create_run(self, **fields: Any) -> int:
        fields.setdefault("status", Status.RUNNING)
        fields.setdefault("started_at", time.time())
        fields.setdefault("pid", os.getpid())
        fields.setdefault("host", socket.gethostname())
        with self._writing() as conn:
            return self._insert(conn, t.runs, fields)

    def finish_run(self, run_id: int, conclusion: Conclusion) -> None:
        """The run is over; a job or step it left unfinished (a cancelled run's) is cancelled
        with it, so no page shows it running on."""
        now = time.time()
        jobs = select(t.jobs.c.id).where(t.jobs.c.run_id == run_id)
        with self._writing() as conn:
            conn.execute(
                update(t.steps)
                .where(t.steps.c.job_row.in_(jobs), t.steps.c.status == Status.RUNNING)
                .values(status=Status.COMPLETED, conclusion=Conclusion.CANCELLED, finished_at=now)
            )
            conn.execute(
                update(t.jobs)
                .where(t.jobs.c.run_id == run_id, t.jobs.c.status.in_(LIVE))
                .values(status=Status.COMPLETED, conclusion=Conclusion.CANCELLED, finished_at=now)
            )
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(status=Status.COMPLETED, conclusion=conclusion, finished_at=now)
            )

    def run_waiting(self, run_id: int) -> None:
        """Its jobs that could run have ended; others wait for a review (another run goes on
        with them): no process is behind it any more."""
        with self._writing() as conn:
            conn.execute(_by_row(t.runs), {"row": run_id, "status": Status.WAITING})

    def settle_waiting(
        self, run_id: int, job_ids: Sequence[str], conclusion: Conclusion, message: str
    ) -> None:
        """A review of a waiting run was decided: those of its waiting jobs end with
        `conclusion` and `message` (rejected, or going on in another run). Once none waits,
        the run ends too: failed if a job failed, else a success."""
        now = time.time()
        jobs = t.jobs.c
        waiting = (jobs.run_id == run_id, jobs.status == Status.WAITING)
        with self._writing() as conn:
            conn.execute(
                update(t.jobs)
                .where(*waiting, jobs.job_id.in_(list(job_ids)))
                .values(
                    status=Status.COMPLETED, conclusion=conclusion, message=message, finished_at=now
                )
            )
            if conn.execute(select(jobs.id).where(*waiting).limit(1)).first() is not None:
                return  # held for another environment still
            found = set(
                conn.execute(select(jobs.conclusion).where(jobs.run_id == run_id)).scalars()
            )
            overall = next(
                (c for c in (Conclusion.FAILURE, Conclusion.CANCELLED) if c in found),
                Conclusion.SUCCESS,
            )
            ended = {"row": run_id, "status": Status.COMPLETED, "conclusion": overall,
                     "finished_at": now}  # fmt: skip
            conn.execute(_by_row(t.runs), ended)

    def mark_interrupted(self) -> list[tuple[int, int]]:
        """Runs left 'running' by a process that no longer exists on this host: each is marked
        interrupted with its unfinished jobs and steps; (run id, pid of its dead process)."""
        host = socket.gethostname()
        with self._writing() as conn:
            rows = conn.execute(
                select(t.runs.c.id, t.runs.c.pid).where(
                    t.runs.c.status == Status.RUNNING, t.runs.c.host == host
                )
            ).all()
            gone = [(r.id, r.pid) for r in rows if not pid_alive(r.pid)]
            interrupt_runs(conn, [run for run, _ in gone])
        return gone

    # -- jobs and steps ---------------------------------------------------------------
    def create_job(self, run_id: int, **fields: Any) -> int:
        with self._writing() as conn:
            return self._insert(conn, t.jobs, {"run_id": run_id, **fields})

    def update_job(self, job_row: int, **fields: Any) -> None:
        self._update(t.jobs, job_row, **fields)

    def create_step(self, job_row: int, number: int, name: str) -> int:
        with self._writing() as conn:
            fields = {
                "job_row": job_row,
                "number": number,
                "name": name,
                "status": Status.RUNNING,
                "started_at": time.time(),
            }
            return self._insert(conn, t.steps, fields)

    def finish_step(
        self, step_row: int, logs: Sequence[tuple[int, int, float, str]], **fields: Any
    ) -> None:
        """Record a step's result together with its remaining log lines, in one transaction."""
        with self._writing() as conn:
            self._insert_logs(conn, logs)
            conn.execute(_by_row(t.steps), {"row": step_row, **fields})

    def add_finished_step(
        self, job_row: int, logs: Sequence[tuple[int, int, float, str]], **fields: Any
    ) -> int:
        """A step recorded whole, already finished (restored from the cache), with its log."""
        with self._writing() as conn:
            self._insert_logs(conn, logs)
            return self._insert(conn, t.steps, {"job_row": job_row, **fields})

    def add_logs(self, logs: Sequence[tuple[int, int, float, str]]) -> None:
        with self._writing() as conn:
            self._insert_logs(conn, logs)

    @staticmethod
    def _insert_logs(conn: Connection, logs: Sequence[tuple[int, int, float, str]]) -> None:
        if logs:
            conn.execute(
                insert(t.log_lines),
                [{"job_row": j, "step": s, "ts": ts, "line": line} for j, s, ts, line in logs],
            )

    def get_job(self, job_row: int) -> JobRecord | None:
        """One job's row, without its steps (what a job on another machine ended with)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_row)).first()
        return JobRecord.of(row._mapping) if row is not None else None

    def step_of(self, step_row: int) -> int | None:
        """The job row a step row belongs to."""
        with self.engine.connect() as conn:
            query = select(t.steps.c.job_row).where(t.steps.c.id == step_row)
            return conn.execute(query).scalar()

    def clear_job(self, job_row: int, message: str) -> None:
        """The job starts again from nothing (its worker was lost): its steps, log lines and
        annotations go, and it is queued with `message` saying why."""
        with self._writing() as conn:
            for table in (t.log_lines, t.annotations, t.steps):
                conn.execute(delete(table).where(table.c.job_row == job_row))
            conn.execute(update(t.jobs).where(t.jobs.c.id == job_row).values(
                status=Status.QUEUED, conclusion=None, started_at=None, finished_at=None,
                runner=None, message=message))  # fmt: skip

    def add_annotation(self, job_row: int, step: int, **fields: Any) -> None:
        with self._writing() as conn:
            conn.execute(insert(t.annotations).values(job_row=job_row, step=step, **fields))

    def add_artifact(self, run_id: int, name: str, path: str, size: int) -> None:
        """An artifact of the run; one of the same name (`overwrite: true`) is replaced."""
        artifacts = t.artifacts.c
        with self._writing() as conn:
            conn.execute(
                delete(t.artifacts).where(artifacts.run_id == run_id, artifacts.name == name)
            )
            conn.execute(insert(t.artifacts).values(run_id=run_id, name=name, path=path, size=size))

    @staticmethod
    def _insert(conn: Connection, table: Any, fields: dict[str, Any]) -> int:
        key = conn.execute(insert(table), fields).inserted_primary_key
        assert key is not None
        return int(key[0])

    def _update(self, table: Any, row_id: int, **fields: Any) -> None:
        with self._writing() as conn:
            conn.execute(_by_row(table), {"row": row_id, **fields})

    # -- reading back -------------------------------------------------------------------
    def job_logs(self, job_row: int) -> Iterator[tuple[int, float, str]]:
        """(step, timestamp, line) of one job, in order, streamed (a job may print gigabytes)."""
        query = (
            select(t.log_lines.c.step, t.log_lines.c.ts, t.log_lines.c.line)
            .where(t.log_lines.c.job_row == job_row)
            .order_by(t.log_lines.c.id)
            .execution_options(yield_per=2000)
        )
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield row.step, row.ts, row.line

    def job_log_lines(self, job_row: int, limit: int) -> list[tuple[int, int, float, str]]:
        """(line id, step, time, line) of one job's first `limit` lines."""
        query = (
            select(t.log_lines.c.id, t.log_lines.c.step, t.log_lines.c.ts, t.log_lines.c.line)
            .where(t.log_lines.c.job_row == job_row)
            .order_by(t.log_lines.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(row.id, row.step, row.ts, row.line) for row in conn.execute(query)]

    def job_annotations(self, job_row: int) -> list[AnnotationRecord]:
        query = select(t.annotations).where(t.annotations.c.job_row == job_row)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.annotations.c.id))
            return [AnnotationRecord.of(r._mapping) for r in rows]

    def job_history(self, workflow_file: str, runs: int = 50) -> dict[str, list[tuple[str, float]]]:
        """(conclusion, seconds) per job id over the last `runs` runs of a workflow, newest
        first; cache hits are left out, since they say nothing about how a job fails."""
        recent = (
            select(t.runs.c.id)
            .where(t.runs.c.workflow_file == workflow_file, t.runs.c.status == Status.COMPLETED)
            .order_by(t.runs.c.id.desc())
            .limit(runs)
            .subquery()
        )
        query = (
            select(t.jobs.c.job_id, t.jobs.c.conclusion, t.jobs.c.started_at, t.jobs.c.finished_at)
            .where(
                t.jobs.c.run_id.in_(select(recent.c.id)),
                t.jobs.c.cached_from.is_(None),
                t.jobs.c.conclusion.in_((Conclusion.SUCCESS, Conclusion.FAILURE)),
                t.jobs.c.started_at.is_not(None),
                t.jobs.c.finished_at.is_not(None),
            )
            .order_by(t.jobs.c.id.desc())
        )
        history: dict[str, list[tuple[str, float]]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                seconds = row.finished_at - row.started_at
                history.setdefault(row.job_id, []).append((row.conclusion, seconds))
        return history

    def find_runs(self, filters: RunFilter, limit: int = 50) -> list[RunRecord]:
        """The newest runs that pass `filters`, below id `filters.before` (keyset paging: as
        fast on the last page as on the first)."""
        query = select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        for column, wanted in (
            (t.runs.c.workflow, filters.workflow),
            (t.runs.c.branch, filters.branch),
            (t.runs.c.event, filters.event),
        ):
            if wanted:
                query = query.where(column == wanted)
        if filters.outcome in (Status.RUNNING, Status.INTERRUPTED):
            query = query.where(t.runs.c.status == filters.outcome)
        elif filters.outcome:
            query = query.where(t.runs.c.conclusion == filters.outcome)
        if filters.before:
            query = query.where(t.runs.c.id < filters.before)
        with self.engine.connect() as conn:
            return [RunRecord.of(r._mapping) for r in conn.execute(query)]

    def run_choices(self) -> dict[str, list[str]]:
        """The workflows, branches and events runs have had, for the runs page's filters."""
        choices = {}
        with self.engine.connect() as conn:
            for name in ("workflow", "branch", "event"):
                column = t.runs.c[name]
                rows = conn.execute(select(column).distinct().order_by(column).limit(200))
                choices[name] = [row[0] for row in rows]
        return choices

    def run_state(self, run_id: int) -> tuple[Status, Conclusion | None] | None:
        """(status, conclusion) of a run alone: what a live tail asks every moment."""
        query = select(t.runs.c.status, t.runs.c.conclusion).where(t.runs.c.id == run_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Status(row.status), conclusion_of(row.conclusion)

    def runs_of_trigger(self, trigger_id: int) -> list[int]:
        query = select(t.runs.c.id).where(t.runs.c.trigger_id == trigger_id).order_by(t.runs.c.id)
        with self.engine.connect() as conn:
            return [row.id for row in conn.execute(query)]

    def move_artifacts(self, run_id: int, old_root: Path, new_root: Path) -> None:
        """A run's artifacts now live under `new_root` (moved there by the caller)."""
        query = select(t.artifacts.c.id, t.artifacts.c.path).where(t.artifacts.c.run_id == run_id)
        with self.engine.begin() as conn:
            for row in conn.execute(query).all():
                moved = new_root / Path(row.path).relative_to(old_root)
                conn.execute(
                    update(t.artifacts).where(t.artifacts.c.id == row.id).values(path=str(moved))
                )

    def artifact(self, artifact_id: int) -> ArtifactRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.artifacts).where(t.artifacts.c.id == artifact_id)).first()
            return ArtifactRecord.of(row._mapping) if row is not None else None

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        return self.find_runs(RunFilter(), limit)

    def next_run_number(self) -> int:
        with self.engine.connect() as conn:
            return (
                int(conn.execute(select(func.coalesce(func.max(t.runs.c.id), 0))).scalar() or 0) + 1
            )

    def get_run(self, run_id: int) -> RunRecord | None:
        """A run with its jobs (each with its steps and annotations) and its artifacts."""
        with self.engine.connect() as conn:
            run = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
            if run is None:
                return None
            jobs = conn.execute(
                select(t.jobs).where(t.jobs.c.run_id == run_id).order_by(t.jobs.c.id)
            ).all()
            rows = [job.id for job in jobs]
            steps: dict[int, list[StepRecord]] = {row: [] for row in rows}
            query = select(t.steps).where(t.steps.c.job_row.in_(rows)).order_by(t.steps.c.number)
            for step in conn.execute(query):
                steps[step.job_row].append(StepRecord.of(step._mapping))
            notes: dict[int, list[AnnotationRecord]] = {row: [] for row in rows}
            query = select(t.annotations).where(t.annotations.c.job_row.in_(rows))
            for note in conn.execute(query.order_by(t.annotations.c.id)):
                notes[note.job_row].append(AnnotationRecord.of(note._mapping))
            query = select(t.artifacts).where(t.artifacts.c.run_id == run_id)
            artifacts = tuple(ArtifactRecord.of(a._mapping) for a in conn.execute(query))
        return RunRecord.of(
            run._mapping,
            jobs=tuple(
                JobRecord.of(
                    job._mapping, steps=tuple(steps[job.id]), annotations=tuple(notes[job.id])
                )
                for job in jobs
            ),
            artifacts=artifacts,
        )

    def lines_after(self, run_id: int, after: int, limit: int = 500) -> list[LogLine]:
        """A run's log lines stored after line id `after`, oldest first (for live tails)."""
        query = (
            _log_lines(run_id)
            .where(t.log_lines.c.id > after)
            .order_by(t.log_lines.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [LogLine(*row) for row in conn.execute(query)]

    def logs(self, run_id: int, job_keys: Iterable[str] = ()) -> list[LogLine]:
        keys = list(job_keys)
        query = _log_lines(run_id).order_by(t.log_lines.c.job_row, t.log_lines.c.id)
        if keys:
            # A job id, a matrix job's key, or the name shown for it (`test (3.11)`, `Lint`).
            query = query.where(
                t.jobs.c.job_id.in_(keys) | t.jobs.c.key.in_(keys) | t.jobs.c.name.in_(keys)
            )
        with self.engine.connect() as conn:
            return [LogLine(*row) for row in conn.execute(query)]
