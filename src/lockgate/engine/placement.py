"""Where a job's steps run: in this process (`job.JobExecutor`), or handed to a worker on
another machine (`runners.dispatch`). The orchestrator decides what runs and when; a placement
only runs one job and leaves its conclusion, outputs and message on the JobRun."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..workflow.expressions import Value
from ..workflow.loader import LoadedWorkflow
from .github import GitHubContext
from .recorder import Recorder
from .state import FinishedJob, JobRun


class Execution(Protocol):
    cancel_requested: bool

    def cancel(self) -> None:
        """Soft cancel: the running step stops; only always()/cancelled() steps still run."""

    async def execute(
        self, on_success: Callable[[FinishedJob], Awaitable[None]] | None = None
    ) -> None: ...


@dataclass(frozen=True)
class PlacedJob:
    job: JobRun
    workflow: LoadedWorkflow
    labels: tuple[str, ...]  # its runs-on
    github: GitHubContext
    contexts: dict[str, Value]  # github, needs, vars, secrets, inputs, matrix, strategy
    run_id: int
    run_dir: Path
    recorder: Recorder  # the run's: what the job's placement says (waiting for a worker)


class JobPlacement(Protocol):
    def place(self, placed: PlacedJob) -> Execution: ...
