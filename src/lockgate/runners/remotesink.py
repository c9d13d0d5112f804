"""The records of a job run on a worker, sent to the server as the recorder writes them (the
`engine.recorder.RecordSink` a worker's recorder writes to): the UI's live view reads them
from the store as it reads a local job's. Only one job's records: a run's are the server's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..engine.recorder import LogLine
from ..store.records import Conclusion
from .client import WorkerClient
from .payload import (
    AddAnnotation,
    AddLogs,
    CreateStep,
    FinishStep,
    JobFields,
    LogEntry,
    StepFields,
    UpdateJob,
)


def _entries(logs: Sequence[LogLine]) -> list[LogEntry]:
    return [(step, at, text) for _, step, at, text in logs]


class RemoteSink:
    def __init__(self, client: WorkerClient, assignment: int) -> None:
        self.client, self.assignment = client, assignment

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        yield  # each call is one request already

    def create_run(self, **fields: Any) -> int:
        raise RuntimeError("a worker records one job, not runs")

    def finish_run(self, run_id: int, conclusion: Conclusion) -> None:
        raise RuntimeError("a worker records one job, not runs")

    def run_waiting(self, run_id: int) -> None:
        raise RuntimeError("a worker records one job, not runs")

    def create_job(self, run_id: int, **fields: Any) -> int:
        raise RuntimeError("a worker records one job, not runs")

    def add_finished_step(self, job_row: int, logs: Sequence[LogLine], **fields: Any) -> int:
        raise RuntimeError("a worker runs its job: nothing is restored from a cache")

    def update_job(self, job_row: int, **fields: Any) -> None:
        self.client.record(self.assignment, [UpdateJob(fields=JobFields(**fields))])

    def create_step(self, job_row: int, number: int, name: str) -> int:
        made = self.client.record(self.assignment, [CreateStep(number=number, name=name)])
        assert made[0] is not None
        return made[0]

    def finish_step(self, step_row: int, logs: Sequence[LogLine], **fields: Any) -> None:
        step = FinishStep(step_row=step_row, logs=_entries(logs), fields=StepFields(**fields))
        self.client.record(self.assignment, [step])

    def add_logs(self, logs: Sequence[LogLine]) -> None:
        self.client.record(self.assignment, [AddLogs(logs=_entries(logs))])

    def add_annotation(self, job_row: int, step: int, **fields: Any) -> None:
        self.client.record(self.assignment, [AddAnnotation(step=step, **fields)])

    def add_artifact(self, run_id: int, name: str, path: str, size: int) -> None:
        self.client.upload(self.assignment, name, Path(path))
