"""What every kind of step shares: the Step protocol (pre, main, post), where a step runs (its
Scope), and what a step may ask of the job running it (JobHost)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...workflow import schema
from ...workflow.expressions import Value
from ..context import RunContext
from ..state import Annotation, StepRun

MAX_ACTION_DEPTH = 9


class StepFailed(Exception):
    """A step could not run (bad expression, missing action): fails the step, not lockgate."""


@dataclass
class Scope:
    """Where steps run: the job itself, or inside a composite action."""

    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[str, Any] | None = None
    action_path: Path | None = None
    depth: int = 0
    # Inside a composite action: the `env:` of the steps that called it, seen by its steps.
    env: dict[str, str] = field(default_factory=dict)
    uses: str = ""  # the action running here, as written in `uses:`
    failed: bool = False  # inside a composite action: one of its steps failed


@dataclass(frozen=True)
class StepCall:
    """One step being run: its definition, where it runs, and its record."""

    step: schema.Step
    scope: Scope
    record: StepRun


@dataclass
class PostStep:
    """What runs after the job's steps, in reverse order (an action's `runs.post`)."""

    name: str
    condition: str
    run: Callable[[StepRun], Awaitable[bool]]


class JobHost(Protocol):
    """What a step may use of the job running it."""

    run: RunContext
    run_id: int
    workspace: Path
    snapshot: Path | None
    temp: Path
    env: dict[str, str]  # the job's environment (workflow, job, GITHUB_ENV)
    paths: list[str]  # GITHUB_PATH additions, newest first
    state: dict[str, str]  # GITHUB_STATE of the action running now
    failed: bool

    def render(self, value: Any, scope: Scope, env: Mapping[str, str] | None = None) -> Any: ...
    def render_text(
        self, value: Any, scope: Scope, env: Mapping[str, str] | None = None
    ) -> str: ...
    def evaluator(
        self, scope: Scope, env: Mapping[str, str] | None = None
    ) -> Callable[[str], Value]: ...
    def step_env(self, step_env: Any, scope: Scope) -> dict[str, str]: ...
    def defaults(self) -> schema.RunDefaults: ...
    async def spawn(
        self, argv: list[str], env: Mapping[str, str], cwd: Path, record: StepRun, scope: Scope
    ) -> int: ...
    async def run_steps(self, steps: list[schema.Step], scope: Scope) -> bool: ...
    def log(self, record: StepRun, line: str) -> None: ...
    def annotate(self, annotation: Annotation, record: StepRun | None = None) -> None: ...
    def artifacts_uploaded(self, artifacts: list[tuple[str, str, int]]) -> None: ...


class Step(Protocol):
    """One kind of step (a `run:` script, a composite, JavaScript or built-in action).

    `pre` runs first (a JavaScript action's `runs.pre`; False ends the step as failed), then
    `main`; `posts` says what runs after the job's steps (once `main` ran)."""

    async def pre(self, job: JobHost, call: StepCall) -> bool: ...
    async def main(self, job: JobHost, call: StepCall) -> bool: ...
    def posts(self, job: JobHost, call: StepCall) -> list[PostStep]: ...


class MainOnly:
    """For kinds with no pre or post phase."""

    async def pre(self, job: JobHost, call: StepCall) -> bool:
        return True

    def posts(self, job: JobHost, call: StepCall) -> list[PostStep]:
        return []
