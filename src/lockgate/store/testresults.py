"""Test results, one row per test per job run, and quarantines, as typed records."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, insert, select

from . import tables as t
from .database import Store


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # (not a pytest test class)
    run_id: int
    job_row: int
    job_id: str
    tree: str | None  # the job's input digest: two results on one tree ran the same code
    test: str  # suite::name
    file: str | None
    outcome: str  # passed | failed | error | skipped
    duration: float
    retries: int
    quarantined: bool
    message: str | None
    at: float

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "error")


@dataclass(frozen=True)
class Quarantine:
    test: str
    owner: str
    reason: str
    since: float
    until: float | None
    by: str

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


_COLUMNS = [t.test_results.c[f.name] for f in dataclasses.fields(TestResult)]


def _results(rows: Iterable[Row[Any]]) -> list[TestResult]:
    # Positional, in field order (_COLUMNS): 100,000 rows are read in well under a second.
    return [TestResult(*row) for row in rows]  # type: ignore[call-arg]


class TestRecords:
    __test__ = False

    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def add(self, results: Sequence[TestResult]) -> None:
        if results:
            with self.engine.begin() as conn:
                conn.execute(insert(t.test_results), [dataclasses.asdict(r) for r in results])

    def of_run(self, run_id: int) -> list[TestResult]:
        query = select(*_COLUMNS).where(t.test_results.c.run_id == run_id)
        with self.engine.connect() as conn:
            return _results(conn.execute(query.order_by(t.test_results.c.id)))

    def since(self, at: float) -> list[TestResult]:
        """Every result recorded at or after `at`, oldest first."""
        query = select(*_COLUMNS).where(t.test_results.c.at >= at)
        with self.engine.connect() as conn:
            return _results(conn.execute(query.order_by(t.test_results.c.id)))

    def of_tests(self, tests: Sequence[str], since: float) -> list[TestResult]:
        """The results of `tests` recorded at or after `since`, oldest first."""
        found: list[TestResult] = []
        names = sorted(set(tests))
        with self.engine.connect() as conn:
            for start in range(0, len(names), 500):  # within any database's parameter limit
                chunk = names[start : start + 500]
                query = select(*_COLUMNS).where(
                    t.test_results.c.test.in_(chunk), t.test_results.c.at >= since
                )
                found += _results(conn.execute(query))
        return sorted(found, key=lambda r: (r.at, r.run_id))

    # -- quarantines ---------------------------------------------------------------------------
    def quarantine(self, entry: Quarantine) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.quarantines).where(t.quarantines.c.test == entry.test))
            conn.execute(insert(t.quarantines).values(**dataclasses.asdict(entry)))

    def release(self, test: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(delete(t.quarantines).where(t.quarantines.c.test == test))
            return bool(done.rowcount)

    def quarantines(self) -> list[Quarantine]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.quarantines).order_by(t.quarantines.c.since))
            return [Quarantine(**dict(row._mapping)) for row in rows]


@dataclass(frozen=True)
class JobTiming:
    job_id: str
    key: str
    job_row: int
    started: float
    finished: float
    conclusion: str | None = None
    tree: str | None = None  # its input digest (cache key)


@dataclass(frozen=True)
class RunTiming:
    run_id: int
    sha: str
    workflow: str  # its file
    started: float
    finished: float
    jobs: tuple[JobTiming, ...]


def run_timings(store: Store, since: float) -> list[RunTiming]:
    """Completed runs started at or after `since`, oldest first, with their jobs' times
    (cache hits left out: they say nothing of how long a job takes)."""
    runs_query = (
        select(
            t.runs.c.id,
            t.runs.c.sha,
            t.runs.c.workflow_file,
            t.runs.c.started_at,
            t.runs.c.finished_at,
        )
        .where(t.runs.c.started_at >= since, t.runs.c.finished_at.is_not(None))
        .order_by(t.runs.c.id)
    )
    jobs_query = (  # only the columns needed: decoding the JSON ones costs more than the rest
        select(
            t.jobs.c.run_id,
            t.jobs.c.job_id,
            t.jobs.c.key,
            t.jobs.c.id,
            t.jobs.c.started_at,
            t.jobs.c.finished_at,
            t.jobs.c.conclusion,
            t.jobs.c.cache_key,
        )
        .join(t.runs, t.runs.c.id == t.jobs.c.run_id)
        .where(
            t.runs.c.started_at >= since,
            t.jobs.c.started_at.is_not(None),
            t.jobs.c.finished_at.is_not(None),
            t.jobs.c.cached_from.is_(None),
        )
    )
    with store.engine.connect() as conn:
        jobs: dict[int, list[JobTiming]] = {}
        for job in conn.execute(jobs_query):
            jobs.setdefault(job.run_id, []).append(
                JobTiming(
                    job.job_id,
                    job.key,
                    job.id,
                    job.started_at,
                    job.finished_at,
                    job.conclusion,
                    job.cache_key,
                )
            )
        return [
            RunTiming(
                run.id,
                run.sha,
                run.workflow_file,
                run.started_at,
                run.finished_at,
                tuple(jobs.get(run.id, ())),
            )
            for run in conn.execute(runs_query)
        ]
