"""What the store gives back: typed, read-only records of runs, jobs, steps, annotations,
artifacts and log lines, with the statuses as enums.

Each record's fields are its table's columns, so `as_json()` is the shape the CLI's `-o json`
and the REST API have always shown (a run with its jobs, steps, annotations and artifacts)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Self


class Status(enum.StrEnum):
    """Where a run, job or step is in its life."""

    PENDING = "pending"  # a step not yet begun
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"  # its process died; nothing will finish it
    SKIPPED = "skipped"  # a step that never ran (its `if:` was false, or an earlier one failed)
    WAITING = "waiting"  # a job held by its environment's protection (a review, a timer)


class Conclusion(enum.StrEnum):
    """How a completed run, job or step ended (GitHub's words)."""

    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


def conclusion_of(value: str | None) -> Conclusion | None:
    """A stored conclusion (or a step's outcome), None when there is none yet."""
    return Conclusion(value) if value else None


class _Row:
    """Built from a table row: every column by name, statuses turned into enums."""

    @classmethod
    def of(cls, row: Mapping[Any, Any], **extra: Any) -> Self:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        values = {k: v for k, v in row.items() if k in names} | extra
        for name in ("status", "outcome", "conclusion"):
            if name in names and name in values:
                values[name] = (
                    Status(values[name]) if name == "status" else conclusion_of(values[name])
                )
        return cls(**values)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]


class _Outcome(_Row):
    """A run, job or step: how long it took, and the one word that says how it stands."""

    started_at: float | None
    finished_at: float | None
    status: Status
    conclusion: Conclusion | None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def shown(self) -> str:
        return self.conclusion or self.status


@dataclass(frozen=True)
class AnnotationRecord(_Row):
    id: int
    job_row: int
    step: int  # the step's number; 0 for the job itself
    level: str  # error | warning | notice
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    title: str | None = None

    def where(self) -> str:
        """`file:line` (or just `file`) for a terminal, empty when it names no file."""
        if not self.file:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class StepRecord(_Outcome):
    id: int
    job_row: int
    number: int
    name: str
    status: Status
    outcome: Conclusion | None  # before continue-on-error
    conclusion: Conclusion | None
    exit_code: int | None
    started_at: float | None
    finished_at: float | None
    outputs: dict[str, str] | None


@dataclass(frozen=True)
class JobRecord(_Outcome):
    id: int
    run_id: int
    key: str  # the job id plus its matrix values: unique within a run
    job_id: str
    name: str
    matrix: dict[str, Any] | None
    status: Status
    conclusion: Conclusion | None
    started_at: float | None
    finished_at: float | None
    outputs: dict[str, str] | None
    environment: str | None
    message: str | None
    summary: str | None
    cache_key: str | None
    cached_from: int | None  # the run a cache hit restored it from
    needs: list[str] | None
    environment_url: str | None = None
    runner: str | None = None  # the worker that ran it; None: the server's machine
    steps: tuple[StepRecord, ...] = ()
    annotations: tuple[AnnotationRecord, ...] = ()


@dataclass(frozen=True)
class ArtifactRecord(_Row):
    id: int
    run_id: int
    name: str
    path: str  # where the server or the repository keeps it; never shown to API clients
    size: int

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in self.as_json().items() if k != "path"}


@dataclass(frozen=True)
class RunRecord(_Outcome):
    id: int
    workflow: str
    workflow_file: str
    event: str
    sha: str
    ref: str
    branch: str
    dirty: bool
    actor: str
    repo_dir: str
    status: Status
    conclusion: Conclusion | None
    started_at: float
    finished_at: float | None
    pid: int | None
    host: str | None
    trigger_id: int | None  # the server's queued run that started it
    commit_message: str | None = None
    commit_author: str | None = None
    jobs: tuple[JobRecord, ...] = ()  # filled by Store.get_run, empty in lists of runs
    artifacts: tuple[ArtifactRecord, ...] = ()

    def job(self, key: str) -> JobRecord | None:
        return next((job for job in self.jobs if job.key == key), None)


@dataclass(frozen=True)
class LogLine:
    """One stored log line of a run, with the key of the job that printed it."""

    id: int
    key: str
    step: int
    ts: float
    line: str  # masked when it was stored

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
