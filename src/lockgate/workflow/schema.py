"""Typed model of a GitHub Actions workflow; unknown keys are errors, as on GitHub."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

Scalar = str | int | float | bool
# A value that may also be written as one `${{ }}` expression string.
IntOrExpr = int | float | str
BoolOrExpr = bool | str

KNOWN_EVENTS = frozenset(
    [
        "branch_protection_rule",
        "check_run",
        "check_suite",
        "create",
        "delete",
        "deployment",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "fork",
        "gollum",
        "issue_comment",
        "issues",
        "label",
        "merge_group",
        "milestone",
        "page_build",
        "project",
        "project_card",
        "project_column",
        "public",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_target",
        "push",
        "registry_package",
        "release",
        "repository_dispatch",
        "schedule",
        "status",
        "watch",
        "workflow_call",
        "workflow_dispatch",
        "workflow_run",
    ]
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class RefFilter(Strict):
    branches: list[str] | None = None
    branches_ignore: list[str] | None = Field(None, alias="branches-ignore")
    tags: list[str] | None = None
    tags_ignore: list[str] | None = Field(None, alias="tags-ignore")
    paths: list[str] | None = None
    paths_ignore: list[str] | None = Field(None, alias="paths-ignore")
    types: list[str] | None = None

    @field_validator(
        "branches",
        "branches_ignore",
        "tags",
        "tags_ignore",
        "paths",
        "paths_ignore",
        "types",
        mode="before",
    )
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class InputSpec(Strict):
    description: str | None = None
    required: bool = False
    default: Scalar | None = None
    type: Literal["string", "boolean", "number", "choice", "environment"] = "string"
    options: list[str] | None = None
    deprecation_message: str | None = Field(None, alias="deprecationMessage")


class SecretSpec(Strict):
    description: str | None = None
    required: bool = False


class OutputSpec(Strict):
    description: str | None = None
    value: str


class DispatchTrigger(Strict):
    inputs: dict[str, InputSpec] = {}


class CallTrigger(Strict):
    inputs: dict[str, InputSpec] = {}
    secrets: dict[str, SecretSpec | None] = {}
    outputs: dict[str, OutputSpec] = {}


class Cron(Strict):
    cron: str


class Triggers(Strict):
    """The `on:` section, normalised to one mapping of event name -> configuration."""

    model_config = ConfigDict(extra="allow", frozen=True)
    push: RefFilter | None = None
    pull_request: RefFilter | None = None
    pull_request_target: RefFilter | None = None
    workflow_dispatch: DispatchTrigger | None = None
    workflow_call: CallTrigger | None = None
    schedule: list[Cron] | None = None


class RunDefaults(Strict):
    shell: str | None = None
    working_directory: str | None = Field(None, alias="working-directory")


class Defaults(Strict):
    run: RunDefaults = RunDefaults()


class Concurrency(Strict):
    group: str
    cancel_in_progress: BoolOrExpr = Field(False, alias="cancel-in-progress")


class Environment(Strict):
    name: str
    url: str | None = None


class Strategy(Strict):
    matrix: dict[str, Any] | str | None = None
    fail_fast: BoolOrExpr = Field(True, alias="fail-fast")
    max_parallel: IntOrExpr | None = Field(None, alias="max-parallel")


class Container(Strict):
    image: str
    credentials: dict[str, str] | None = None
    env: dict[str, Scalar] = {}
    ports: list[int | str] = []
    volumes: list[str] = []
    options: str | None = None


class RunsOnGroup(Strict):
    group: str | None = None
    labels: list[str] | str | None = None


class Step(Strict):
    id: str | None = None
    name: str | None = None
    if_: BoolOrExpr | None = Field(None, alias="if")
    run: str | None = None
    uses: str | None = None
    shell: str | None = None
    working_directory: str | None = Field(None, alias="working-directory")
    with_: dict[str, Scalar | None] = Field({}, alias="with")
    env: dict[str, Scalar | None] | str = {}
    continue_on_error: BoolOrExpr = Field(False, alias="continue-on-error")
    timeout_minutes: IntOrExpr | None = Field(None, alias="timeout-minutes")

    @model_validator(mode="after")
    def _run_or_uses(self) -> Step:
        if (self.run is None) == (self.uses is None):
            raise ValueError("a step needs exactly one of `run:` or `uses:`")
        return self

    @field_validator("run", "uses", mode="after")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value


class JobCommon(Strict):
    name: str | None = None
    needs: list[str] = []
    if_: BoolOrExpr | None = Field(None, alias="if")
    strategy: Strategy | None = None
    permissions: dict[str, str] | str | None = None
    concurrency: Concurrency | str | None = None

    @field_validator("needs", mode="before")
    @classmethod
    def _needs_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Job(JobCommon):
    runs_on: str | list[str] | RunsOnGroup = Field(alias="runs-on")
    steps: list[Step] = Field(min_length=1)
    env: dict[str, Scalar | None] | str = {}
    defaults: Defaults = Defaults()
    outputs: dict[str, str] = {}
    continue_on_error: BoolOrExpr = Field(False, alias="continue-on-error")
    timeout_minutes: IntOrExpr = Field(360, alias="timeout-minutes")
    environment: Environment | str | None = None
    container: Container | str | None = None
    services: dict[str, Container] = {}


class CallJob(JobCommon):
    """A job that runs a reusable workflow (`uses:` at job level)."""

    uses: str
    with_: dict[str, Scalar | None] = Field({}, alias="with")
    secrets: dict[str, Scalar] | Literal["inherit"] = {}


def _job_kind(value: Any) -> str:
    return "call" if isinstance(value, dict) and "uses" in value else "job"


AnyJob = Annotated[
    Annotated[Job, Tag("job")] | Annotated[CallJob, Tag("call")], Discriminator(_job_kind)
]


class Workflow(Strict):
    name: str | None = None
    run_name: str | None = Field(None, alias="run-name")
    on: Triggers
    env: dict[str, Scalar | None] = {}
    defaults: Defaults = Defaults()
    concurrency: Concurrency | str | None = None
    permissions: dict[str, str] | str | None = None
    jobs: dict[str, AnyJob] = Field(min_length=1)

    @field_validator("on", mode="before")
    @classmethod
    def _normalise_on(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            value = {event: None for event in value}
        if isinstance(value, dict):
            unknown = [e for e in value if e not in KNOWN_EVENTS]
            if unknown:
                raise ValueError(f"unknown event {unknown[0]!r}")
            return {k: ({} if v is None and k != "schedule" else v) for k, v in value.items()}
        return value
