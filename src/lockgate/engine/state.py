"""What a run knows about its jobs and steps while it runs (and what observers are shown)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..store.records import Conclusion, Status
from .protections import Clearance, Hold, Protection


@dataclass
class StepRun:
    number: int
    name: str
    status: Status = Status.PENDING
    outcome: Conclusion | None = None  # before continue-on-error
    conclusion: Conclusion | None = None
    started: float | None = None
    finished: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started


@dataclass
class JobRun:
    key: str  # job id plus matrix values, unique within the run
    job_id: str
    name: str
    matrix: dict[str, Any]
    row: int = 0  # store row id
    status: Status = Status.QUEUED
    conclusion: Conclusion | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    message: str = ""
    summary: str = ""
    continue_on_error: bool = False
    cache_key: str | None = None
    cached_from: int | None = None  # the run whose results a cache hit restored
    environment: str | None = None  # the environment it deploys to (`environment:`)
    held: Hold | None = None  # waiting for its environment's review or timer

    @property
    def verdict(self) -> Conclusion | None:
        """What the job counts as for `needs` and its run: a failure that continue-on-error
        allows counts as a success."""
        if self.conclusion == Conclusion.FAILURE and self.continue_on_error:
            return Conclusion.SUCCESS
        return self.conclusion

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started


@dataclass(frozen=True)
class FinishedJob:
    """A successful job as the job cache keeps it: its record, what it made, where."""

    job: JobRun
    run_id: int
    workspace: Path
    artifacts: list[tuple[str, str, int]]  # uploaded by the job: name, path, size


@dataclass
class Annotation:
    level: str  # error | warning | notice
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    title: str | None = None


class Observer(Protocol):
    """Receives progress; the CLI draws it (live tree, plain lines or nothing)."""

    def job_updated(self, job: JobRun) -> None: ...
    def step_updated(self, job: JobRun, step: StepRun) -> None: ...
    def log(self, job: JobRun, step: StepRun, line: str) -> None: ...
    def annotation(self, job: JobRun, annotation: Annotation) -> None: ...
    def message(self, text: str, level: str = "info") -> None: ...


class Silent:
    def job_updated(self, job: JobRun) -> None:
        pass

    def step_updated(self, job: JobRun, step: StepRun) -> None:
        pass

    def log(self, job: JobRun, step: StepRun, line: str) -> None:
        pass

    def annotation(self, job: JobRun, annotation: Annotation) -> None:
        pass

    def message(self, text: str, level: str = "info") -> None:
        pass


@dataclass(frozen=True)
class Reused:
    """A job of an earlier run, as the jobs that need it see it."""

    run_id: int
    conclusion: Conclusion
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class RunOptions:
    """Everything `lockgate run` was asked to do."""

    repo_dir: Path
    event_name: str = "push"
    workflows: Path | None = None
    job_filter: tuple[str, ...] = ()
    secrets: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    actor: str = "lockgate"
    event_payload: dict[str, Any] = field(default_factory=dict)
    matrix_filter: dict[str, str] = field(default_factory=dict)
    platforms: dict[str, str] = field(default_factory=dict)
    max_jobs: int = 2
    bind: bool = False
    action_paths: dict[str, Path] = field(default_factory=dict)
    offline: bool = False  # download nothing: remote actions and toolchains from the cache only
    github_url: str = "https://github.com"  # where `uses: owner/repo@ref` is cloned from
    kill_grace: float = 5.0  # seconds between SIGTERM and SIGKILL
    use_cache: bool = True
    remote_cache: str | None = None  # Bazel HTTP remote cache URL (else lockgate.yml's)
    # Protected environments (the server's rules) and what this run was cleared for.
    protections: dict[str, Protection] = field(default_factory=dict)
    clearances: dict[str, Clearance] = field(default_factory=dict)
    # Jobs an earlier run finished, taken as they ended instead of run again: a re-run of
    # some jobs, or a run going on after a review (job id -> result).
    reuse: dict[str, Reused] = field(default_factory=dict)
    fail_fast: bool = False  # at the first failure, cancel what can no longer change the verdict
    trigger_id: int | None = None  # the server's queued run this run answers
