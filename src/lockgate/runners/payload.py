"""What passes between the server and a worker, as typed records: the job a worker claims,
and the records it sends back (each one checked against its assignment by the server)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ..store.records import Conclusion, Status
from ..store.testresults import Quarantine, TestResult

Quarantines = TypeAdapter(list[Quarantine])


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobPayload(_Strict):
    """One job as the run's process planned it: enough for the worker to run it with the same
    engine. Secrets are not in it (they come with the claim)."""

    run_id: int
    job_row: int
    job_key: str
    job_id: str
    job_name: str
    matrix: dict[str, Any]
    continue_on_error: bool
    environment: str | None
    workflow: dict[str, Any]  # the workflow file as plain data
    workflow_display: str
    github: dict[str, Any]  # engine.github.GitHubContext's fields, its token empty
    contexts: dict[str, Any]  # needs, vars, inputs, matrix, strategy (no secrets)
    event_name: str
    actor: str
    sha: str
    github_url: str
    kill_grace: float
    cache_key: str | None = None  # the job's input digest: its test results' tree


class TestsAsked(_Strict):
    __test__ = False
    tests: list[str] = Field(max_length=100000)
    since: float


TestResults = TypeAdapter(list[TestResult])


class Claimed(_Strict):
    payload: JobPayload
    secrets: dict[str, str]  # only those the job names


class Beat(_Strict):
    cancel: bool


Said = Literal["idle", "draining", "stopped"]  # what a worker says of itself


class Heartbeat(_Strict):
    labels: list[str] = Field(max_length=8)
    concurrency: int = Field(ge=1, le=256)
    host: str = Field(max_length=255)
    state: Said


class HeartbeatReply(_Strict):
    drain: bool  # finish the jobs held and take no more
    name: str  # the worker's name: its token's


# -- records a worker sends (engine.recorder.RecordSink's calls, one job's only) ----------------
LogEntry = tuple[int, float, str]  # step number, time, text (the job row is the assignment's)


class JobFields(_Strict):
    status: Status | None = None
    conclusion: Conclusion | None = None
    started_at: float | None = None
    finished_at: float | None = None
    outputs: dict[str, str] | None = None
    message: str | None = Field(default=None, max_length=65536)
    summary: str | None = Field(default=None, max_length=1048576)
    environment_url: str | None = Field(default=None, max_length=2048)


class StepFields(_Strict):
    status: Status | None = None
    outcome: Conclusion | None = None
    conclusion: Conclusion | None = None
    finished_at: float | None = None
    outputs: dict[str, str] | None = None


class UpdateJob(_Strict):
    op: Literal["update_job"] = "update_job"
    fields: JobFields


class CreateStep(_Strict):
    op: Literal["create_step"] = "create_step"
    number: int = Field(ge=1, le=10000)
    name: str = Field(max_length=4096)


class FinishStep(_Strict):
    op: Literal["finish_step"] = "finish_step"
    step_row: int
    logs: list[LogEntry] = Field(max_length=10000)
    fields: StepFields


class AddLogs(_Strict):
    op: Literal["add_logs"] = "add_logs"
    logs: list[LogEntry] = Field(max_length=10000)


class AddAnnotation(_Strict):
    op: Literal["add_annotation"] = "add_annotation"
    step: int = Field(ge=0)
    level: str = Field(pattern=r"^(error|warning|notice|debug)$")
    message: str = Field(max_length=65536)
    file: str | None = Field(default=None, max_length=4096)
    line: int | None = None
    col: int | None = None
    title: str | None = Field(default=None, max_length=4096)


Record = UpdateJob | CreateStep | FinishStep | AddLogs | AddAnnotation


class Records(_Strict):
    records: list[Annotated[Record, Field(discriminator="op")]] = Field(max_length=1000)


_NAMED = re.compile(r"secrets\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)|secrets\s*\[\s*'([^']+)'\s*\]")


def secrets_used(
    job: dict[str, Any], workflow_env: Any, all_secrets: dict[str, str]
) -> dict[str, str]:
    """The secrets a job names (in its steps, env, with, or its workflow's env): those alone go
    to its worker. `toJSON(secrets)` or `secrets: inherit` name them all; GITHUB_TOKEN goes
    always, as a runner gets it for every job."""
    text = repr(job) + repr(workflow_env)
    if re.search(r"toJSON\s*\(\s*secrets\s*\)|'secrets':\s*'inherit'", text, re.IGNORECASE):
        return dict(all_secrets)
    named = {a or b for a, b in _NAMED.findall(text)} | {"GITHUB_TOKEN"}
    lowered = {name.lower() for name in named}  # expressions' names are case-insensitive
    return {k: v for k, v in all_secrets.items() if k.lower() in lowered}
