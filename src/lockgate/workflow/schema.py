"""Typed model of a GitHub Actions workflow, built after validate.py has checked the file.

GitHub's rules (unknown keys, kinds of values, ids) are enforced by the validator with GitHub's
messages and positions; these models only give the engine typed access, so they accept
whatever the validator accepts (a number where a string is written becomes that string).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from .tokens import display

Scalar = str | int | float | bool
# A value that may also be written as one `${{ }}` expression string.
IntOrExpr = int | float | str
BoolOrExpr = bool | str


def _text(value: Any) -> Any:
    """A scalar GitHub reads as a string: `3.10` stays `3.10`, `true` is `true`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return display(value)
    return value


Text = Annotated[str, BeforeValidator(_text)]


class Strict(BaseModel):
    # Keys GitHub allows but lockgate does not use (e.g. `snapshot`) are ignored.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class RefFilter(Strict):
    branches: list[Text] | None = None
    branches_ignore: list[Text] | None = Field(None, alias="branches-ignore")
    tags: list[Text] | None = None
    tags_ignore: list[Text] | None = Field(None, alias="tags-ignore")
    paths: list[Text] | None = None
    paths_ignore: list[Text] | None = Field(None, alias="paths-ignore")
    types: list[Text] | None = None

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
    type: Text = "string"  # github.com treats a type it does not know as "string"
    options: list[Text] | None = None
    deprecation_message: str | None = Field(None, alias="deprecationMessage")


class SecretSpec(Strict):
    description: str | None = None
    required: bool = False


class OutputSpec(Strict):
    description: str | None = None
    value: str


class DispatchTrigger(Strict):
    inputs: dict[str, InputSpec] = {}

    @field_validator("inputs", mode="before")
    @classmethod
    def _null_inputs(cls, value: Any) -> Any:
        if value is None:
            return {}
        return {k: v or {} for k, v in value.items()} if isinstance(value, dict) else value


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
    group: Text
    cancel_in_progress: BoolOrExpr = Field(False, alias="cancel-in-progress")


class Environment(Strict):
    name: Text
    url: Text | None = None


class Strategy(Strict):
    matrix: dict[str, Any] | str | None = None
    fail_fast: BoolOrExpr = Field(True, alias="fail-fast")
    max_parallel: IntOrExpr | None = Field(None, alias="max-parallel")


class Container(Strict):
    image: Text = ""
    credentials: dict[str, str] | None = None
    env: dict[str, Scalar] = {}
    ports: list[int | str] = []
    volumes: list[str] = []
    options: str | None = None


class RunsOnGroup(Strict):
    group: Text | None = None
    labels: list[Text] | Text | None = None


class Step(Strict):
    id: str | None = None
    name: Text | None = None
    if_: BoolOrExpr | None = Field(None, alias="if")
    run: Text | None = None
    uses: Text | None = None
    shell: Text | None = None
    working_directory: Text | None = Field(None, alias="working-directory")
    with_: dict[str, Scalar | None] = Field({}, alias="with")
    env: dict[str, Scalar | None] | str = {}
    continue_on_error: BoolOrExpr = Field(False, alias="continue-on-error")
    timeout_minutes: IntOrExpr | None = Field(None, alias="timeout-minutes")
    parallel: list[Step] | None = None  # a block of steps GitHub may run side by side

    @model_validator(mode="after")
    def _run_or_uses(self) -> Step:
        if sum(x is not None for x in (self.run, self.uses, self.parallel)) != 1:
            raise ValueError("a step needs exactly one of `run:`, `uses:` or `parallel:`")
        return self

    @field_validator("run", "uses", mode="after")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value


class JobCommon(Strict):
    name: Text | None = None
    needs: list[Text] = []
    if_: BoolOrExpr | None = Field(None, alias="if")
    strategy: Strategy | None = None
    permissions: dict[str, str] | str | None = None
    concurrency: Concurrency | Text | None = None

    @field_validator("needs", mode="before")
    @classmethod
    def _needs_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Job(JobCommon):
    runs_on: Text | list[Text] | RunsOnGroup = Field(alias="runs-on")
    steps: list[Step] = []
    env: dict[str, Scalar | None] | str = {}
    defaults: Defaults = Defaults()
    outputs: dict[str, Text] = {}
    continue_on_error: BoolOrExpr = Field(False, alias="continue-on-error")
    timeout_minutes: IntOrExpr = Field(360, alias="timeout-minutes")
    environment: Environment | Text | None = None
    container: Container | Text | None = None
    services: dict[str, Container | Text] = {}


class CallJob(JobCommon):
    """A job that runs a reusable workflow (`uses:` at job level)."""

    uses: Text
    with_: dict[str, Scalar | None] = Field({}, alias="with")
    secrets: dict[str, Scalar] | Literal["inherit"] = {}


def _job_kind(value: Any) -> str:
    return "call" if isinstance(value, dict) and "uses" in value else "job"


AnyJob = Annotated[
    Annotated[Job, Tag("job")] | Annotated[CallJob, Tag("call")], Discriminator(_job_kind)
]


class Workflow(Strict):
    name: Text | None = None
    run_name: Text | None = Field(None, alias="run-name")
    on: Triggers
    env: dict[str, Scalar | None] = {}
    defaults: Defaults = Defaults()
    concurrency: Concurrency | Text | None = None
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
            return {k: ({} if v is None and k != "schedule" else v) for k, v in value.items()}
        return value
