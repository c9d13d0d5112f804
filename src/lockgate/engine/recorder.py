"""The recorder: the one writer of a run's job, step, log, annotation and artifact records.

Every record is masked here, written to the store, and shown to the observer (the CLI's live
tree, the server's worker), so a real run and a job restored from the cache are recorded by
the same code. Log lines are written in batches: a live page sees a line within
LOG_FLUSH_SECONDS, and a chatty step costs one insert per LOG_FLUSH_LINES lines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Protocol

from ..store.records import Conclusion, Status
from .masking import Masker
from .state import Annotation, JobRun, Observer, StepRun

LOG_FLUSH_LINES, LOG_FLUSH_SECONDS = 500, 0.25
LogLine = tuple[int, int, float, str]  # job row, step number, time, masked text


class RecordSink(Protocol):
    """Where records go: the store (`store.Store`), or the server a remote worker reports to
    (`runners.remotesink.RemoteSink`)."""

    def batch(self) -> AbstractContextManager[None]: ...
    def create_run(self, **fields: Any) -> int: ...
    def finish_run(self, run_id: int, conclusion: Conclusion) -> None: ...
    def run_waiting(self, run_id: int) -> None: ...
    def create_job(self, run_id: int, **fields: Any) -> int: ...
    def update_job(self, job_row: int, **fields: Any) -> None: ...
    def create_step(self, job_row: int, number: int, name: str) -> int: ...
    def finish_step(self, step_row: int, logs: Sequence[LogLine], **fields: Any) -> None: ...
    def add_finished_step(self, job_row: int, logs: Sequence[LogLine], **fields: Any) -> int: ...
    def add_logs(self, logs: Sequence[LogLine]) -> None: ...
    def add_annotation(self, job_row: int, step: int, **fields: Any) -> None: ...
    def add_artifact(self, run_id: int, name: str, path: str, size: int) -> None: ...


class Recorder:
    def __init__(self, store: RecordSink, observer: Observer, masker: Masker) -> None:
        self.store, self.observer, self.mask = store, observer, masker
        self.step_rows: dict[tuple[int, int], int] = {}  # (job row, step number) -> store row
        self.pending: list[LogLine] = []
        self.timer: asyncio.TimerHandle | None = None

    def batch(self) -> AbstractContextManager[None]:
        """Records written inside are stored in one transaction (see Store.batch)."""
        return self.store.batch()

    # -- runs ------------------------------------------------------------------------------
    def run_created(self, **fields: Any) -> int:
        """A new run row (`fields`: its columns); its id."""
        return self.store.create_run(**fields)

    def run_finished(self, run_id: int, conclusion: Conclusion) -> None:
        self.flush()
        self.store.finish_run(run_id, conclusion)

    def run_waiting(self, run_id: int) -> None:
        """The run's process is done, but jobs wait for their environment's review."""
        self.flush()
        self.store.run_waiting(run_id)

    # -- jobs ------------------------------------------------------------------------------
    def job_created(self, job: JobRun, run_id: int, **fields: Any) -> None:
        """A new job row (`fields`: its columns beyond key, id, name and matrix)."""
        job.row = self.store.create_job(
            run_id, key=job.key, job_id=job.job_id, name=job.name, matrix=job.matrix, **fields
        )
        self.observer.job_updated(job)

    def job_changed(self, job: JobRun, **fields: Any) -> None:
        """Columns of the job's row changed (`fields`), and the job is shown again."""
        if fields:
            self.store.update_job(job.row, **fields)
        self.observer.job_updated(job)

    def job_started(self, job: JobRun, at: float | None = None) -> None:
        job.status, job.started = Status.RUNNING, at or time.time()
        self.job_changed(job, status=Status.RUNNING, started_at=job.started)

    def job_finished(self, job: JobRun, **fields: Any) -> None:
        """The job's end: status, conclusion, outputs, message and summary, plus `fields`."""
        self.flush()
        job.status, job.finished = Status.COMPLETED, time.time()
        self.job_changed(
            job,
            status=Status.COMPLETED,
            conclusion=job.conclusion,
            finished_at=job.finished,
            outputs=job.outputs,
            message=job.message or None,
            summary=job.summary or None,
            **fields,
        )

    # -- steps -----------------------------------------------------------------------------
    def step_started(self, job: JobRun, name: str, at: float | None = None) -> StepRun:
        """The job's next step, numbered in order."""
        record = StepRun(
            len(job.steps) + 1, self.mask(name), status=Status.RUNNING, started=at or time.time()
        )
        job.steps.append(record)
        row = self.store.create_step(job.row, record.number, record.name)
        self.step_rows[(job.row, record.number)] = row
        self.observer.step_updated(job, record)
        return record

    def step_finished(
        self,
        job: JobRun,
        record: StepRun,
        outcome: Conclusion | None,
        conclusion: Conclusion | None,
        status: Status = Status.COMPLETED,
    ) -> None:
        """The step's end, with its log lines still pending and its outputs (stored masked;
        the `steps` context in memory keeps the values)."""
        record.status, record.outcome, record.conclusion = status, outcome, conclusion
        record.finished = time.time()
        outputs = {k: self.mask(v) for k, v in record.outputs.items()}
        self.store.finish_step(
            self.step_rows[(job.row, record.number)],
            self._take(),
            status=status,
            outcome=outcome,
            conclusion=conclusion,
            finished_at=record.finished,
            outputs=outputs or None,
        )
        self.observer.step_updated(job, record)

    def step_restored(self, job: JobRun, ended: StepRun, lines: list[tuple[float, str]]) -> StepRun:
        """The job's next step as it `ended` in the run a cache entry was saved from (numbered
        here), with its log lines (time, text): one row written whole, where a running step
        is written as it starts and as it ends."""
        record = replace(ended, number=len(job.steps) + 1, name=self.mask(ended.name))
        job.steps.append(record)
        masked = [(at, self.mask(line)) for at, line in lines]
        outputs = {k: self.mask(v) for k, v in record.outputs.items()}
        self.store.add_finished_step(
            job.row,
            [(job.row, record.number, at, line) for at, line in masked],
            number=record.number,
            name=record.name,
            status=record.status,
            outcome=record.outcome,
            conclusion=record.conclusion,
            started_at=record.started,
            finished_at=record.finished,
            outputs=outputs or None,
        )
        for _, line in masked:
            self.observer.log(job, record, line)
        self.observer.step_updated(job, record)
        return record

    def step_skipped(self, job: JobRun, record: StepRun) -> None:
        self.step_finished(job, record, Conclusion.SKIPPED, Conclusion.SKIPPED, Status.SKIPPED)

    # -- what steps say ----------------------------------------------------------------------
    def log(self, job: JobRun, record: StepRun, line: str, at: float | None = None) -> None:
        masked = self.mask(line)
        self.pending.append((job.row, record.number, at or time.time(), masked))
        self.observer.log(job, record, masked)
        if len(self.pending) >= LOG_FLUSH_LINES:
            self.flush()
        elif self.timer is None:
            with_loop = _running_loop()
            if with_loop is not None:  # a quiet step's last lines still reach the store soon
                self.timer = with_loop.call_later(LOG_FLUSH_SECONDS, self.flush)

    def annotate(
        self,
        job: JobRun,
        annotation: Annotation,
        record: StepRun | None = None,
        logged: bool = True,
    ) -> None:
        """Stored masked and shown; with a step, also a line of its log (unless `logged` is
        False: a restored job's log has the line already)."""
        mask = self.mask
        annotation = Annotation(
            annotation.level,
            mask(annotation.message),
            mask(annotation.file) if annotation.file else annotation.file,
            annotation.line,
            annotation.col,
            mask(annotation.title) if annotation.title else annotation.title,
        )
        self.store.add_annotation(
            job.row,
            record.number if record else 0,
            level=annotation.level,
            message=annotation.message,
            file=annotation.file,
            line=annotation.line,
            col=annotation.col,
            title=annotation.title,
        )
        self.observer.annotation(job, annotation)
        if record is not None and logged:
            where = f" {annotation.file}:{annotation.line or ''}" if annotation.file else ""
            self.log(job, record, f"{annotation.level}{where}: {annotation.message}")

    def artifact(self, run_id: int, name: str, path: str, size: int) -> None:
        self.store.add_artifact(run_id, name, path, size)

    def flush(self) -> None:
        logs = self._take()
        if logs:
            self.store.add_logs(logs)

    def _take(self) -> list[LogLine]:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        logs, self.pending = self.pending, []
        return logs


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
