"""One queued run in a process of its own. The worker writes a `RunRequest` file and starts
`python -m lockgate.server.runjob REQUEST OUTCOME`; this process runs the request with the engine
(as `lockgate run` would) and writes a `RunOutcome` file, which is all the worker reads of how
it went: no arguments in environment variables, no scraping of what the run printed.

The outcome is written whole (to a temporary file, then renamed): a worker never reads half of
one. A process that leaves none (killed, or crashed before it could write) is reported by the
worker from its exit status alone."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..common import crash
from ..common.errors import UserError
from ..engine.envfiles import read_secret_file
from ..engine.leftovers import clean_up
from ..engine.orchestrator import combine
from ..engine.protections import Clearance, Protection
from ..engine.runner import Runner, dispatched_inputs, overall
from ..engine.state import Reused, RunOptions, Silent
from ..store import Store
from ..store.queue import InterruptPolicy
from ..store.records import Conclusion, JobRecord, Status
from .reruns import top_level

if TYPE_CHECKING:
    from ..runners.dispatch import RemotePlacement

REMOTE_JOBS = 256  # jobs of a run at once when workers run them (they limit themselves)
EXIT_CODES = {Conclusion.SUCCESS: 0, Conclusion.FAILURE: 1, Conclusion.CANCELLED: 130}
COULD_NOT_RUN = 2


class ProtectionSpec(BaseModel):
    """An environment's rules as a run is given them; its secrets stay in their 0600 file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str
    reviewers: list[str] = []
    wait_seconds: int = 0
    branches: list[str] = []
    vars: dict[str, str] = {}
    secret_file: Path | None = None

    def protection(self) -> Protection:
        secrets = read_secret_file(self.secret_file)
        return Protection(self.environment, tuple(self.reviewers), self.wait_seconds,
                          tuple(self.branches), secrets, dict(self.vars))  # fmt: skip


class ClearanceSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    approved_by: str | None = None
    waited: bool = False


class HeldJob(BaseModel):
    """A job its environment holds: the review (or timer) the server opens for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: int
    job_id: str  # the workflow's own job: a called workflow's job counts as the job calling it
    environment: str
    reviewers: list[str]
    wait_seconds: int


class RunRequest(BaseModel):
    """What a worker asks of one run: the commit checked out, the event, where to record it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checkout: Path
    event: str = Field(pattern=r"^[a-z_]{1,64}$")
    payload: dict[str, Any]
    store_url: str
    trigger_id: int  # the queued run this run answers (kept as runs.trigger_id)
    actor: str = Field(min_length=1, max_length=255)
    workflow: str | None = None  # one workflow file (a schedule's, a rerun's), else all
    jobs: list[str] = []  # only these jobs (and what they need), else all: a rerun of some
    protections: list[ProtectionSpec] = []  # the server's protected environments
    clearances: dict[str, ClearanceSpec] = {}  # what this run was cleared for, by environment
    reuse_from: int | None = None  # the run whose jobs outside `jobs` are taken as they ended
    secret_file: Path | None = None  # every run's secrets, read here, never passed on argv
    github_url: str = "https://github.com"  # where `uses: owner/repo@ref` is cloned from
    remote_cache: str | None = None  # a Bazel HTTP remote cache (else lockgate.yml's)
    broker: str | None = None  # jobs go to `lockgate worker`s through it; else all run here
    seal_key: Path | None = None  # what seals the secrets of jobs sent to workers
    interrupted: Literal["requeue", "report"] = "requeue"  # the server's --interrupted
    lost_after: float = Field(15.0, gt=0)  # seconds without a beat: a worker is taken as lost


class RunOutcome(BaseModel):
    """How the run ended: its conclusion, the runs it recorded, or why it could not run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exit_code: int  # what `lockgate run` would have exited with: 0, 1, 2 or 130
    conclusion: Conclusion | None = None  # None: it could not run
    runs: list[int] = []
    error: str | None = None  # what stopped it, in a line, with what to do
    held: list[HeldJob] = []  # jobs waiting for their environment's review or timer

    @classmethod
    def read(cls, path: Path) -> RunOutcome | None:
        """The outcome a run left at `path`; None when it left none (or not a whole one)."""
        try:
            return cls.model_validate_json(path.read_bytes())
        except (OSError, ValidationError):
            return None


def execute(request: RunRequest) -> RunOutcome:
    """Run the workflows the request's event triggers (or its one workflow) in its checkout."""
    options = RunOptions(
        repo_dir=request.checkout,
        event_name=request.event,
        workflows=request.checkout / request.workflow if request.workflow else None,
        secrets=read_secret_file(request.secret_file),
        inputs=dispatched_inputs(request.event, request.payload),
        actor=request.actor,
        event_payload=request.payload,
        max_jobs=REMOTE_JOBS if request.broker else os.cpu_count() or 2,
        github_url=request.github_url.rstrip("/"),
        remote_cache=request.remote_cache,
        trigger_id=request.trigger_id,
        job_filter=tuple(request.jobs),
        protections={p.environment: p.protection() for p in request.protections},
        clearances={
            name: Clearance(given.approved_by, given.waited)
            for name, given in request.clearances.items()
        },
    )
    store = Store(request.store_url)
    if request.reuse_from is not None:
        options.reuse = ended_jobs(store, request.reuse_from)
    clean_up(request.checkout, store.mark_interrupted())
    runner = Runner(options, store, Silent())
    if request.broker is not None and request.seal_key is not None:
        runner.placement = remote_placement(request, runner, store)
    chosen, _ = runner.selection()
    if not chosen:
        return RunOutcome(exit_code=0, conclusion=Conclusion.SUCCESS)
    results = asyncio.run(runner.run(chosen))
    conclusion = overall(results)
    if runner.interrupted:
        conclusion = Conclusion.CANCELLED
    elif conclusion != Conclusion.SUCCESS:
        conclusion = Conclusion.FAILURE
    held = [
        HeldJob(run_id=r.run_id, job_id=top_level(job.key, job.job_id),
                environment=job.environment or "",
                reviewers=list(job.held.reviewers), wait_seconds=job.held.wait_seconds)
        for r in results for job in r.held if job.held is not None
    ]  # fmt: skip
    return RunOutcome(
        exit_code=EXIT_CODES[conclusion],
        conclusion=conclusion,
        runs=[r.run_id for r in results],
        held=held,
    )


def remote_placement(request: RunRequest, runner: Runner, store: Store) -> RemotePlacement:
    """Jobs sent to workers through the broker; a lost worker's job sent again or reported
    as the repository chose for cut-off runs."""
    # Imported here: a run without a broker (most) never loads Celery.
    from ..runners.celeryapp import Publisher
    from ..runners.dispatch import RemotePlacement, RemoteSettings

    assert request.broker is not None and request.seal_key is not None
    server = runner.project.server
    policy = InterruptPolicy(server.interrupted, server.interrupted_choices())
    settings = RemoteSettings(
        store, Publisher(request.broker), request.seal_key, runner.state_dir,
        lambda workflow: policy.choice(workflow, request.interrupted) == "requeue",
        request.github_url.rstrip("/"), runner.options.kill_grace, request.lost_after,
        lambda job_id: bool(runner.project.rules(job_id).outputs),
    )  # fmt: skip
    return RemotePlacement(settings)


def ended_jobs(store: Store, run_id: int) -> dict[str, Reused]:
    """The jobs of run `run_id` that ended, by job id (a matrix's legs as one result)."""
    run = store.get_run(run_id)
    if run is None:
        return {}
    ended: dict[str, list[JobRecord]] = {}
    for job in run.jobs:
        if job.status == Status.COMPLETED and job.conclusion and " / " not in job.key:
            ended.setdefault(job.job_id, []).append(job)
    reused = {}
    for job_id, legs in ended.items():
        outputs: dict[str, str] = {}
        for leg in legs:
            outputs.update(leg.outputs or {})
        conclusion = combine([leg.conclusion for leg in legs if leg.conclusion])
        reused[job_id] = Reused(run_id, conclusion, outputs)
    return reused


def write(outcome: RunOutcome, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(outcome.model_dump_json())
    os.replace(partial, path)


def main(argv: list[str]) -> int:
    request_path, outcome_path = Path(argv[0]), Path(argv[1])
    try:
        request = RunRequest.model_validate_json(request_path.read_bytes())
    except (OSError, ValidationError) as exc:
        outcome = RunOutcome(exit_code=COULD_NOT_RUN, error=f"unreadable run request: {exc}")
    else:
        try:
            outcome = execute(request)
        except UserError as exc:
            outcome = RunOutcome(exit_code=COULD_NOT_RUN, error=str(exc))
        except Exception as exc:  # a bug: a report with the traceback, one line for the operator
            command = ["run", request.event]
            if request.secret_file is not None:  # its values are scrubbed from the report
                command += ["--secret-file", str(request.secret_file)]
            where = crash.write_report(exc, command)
            what = crash.scrub(f"{type(exc).__name__}: {exc}", crash.secrets_in(command))
            error = f"internal error ({what.splitlines()[0][:300]}); crash report: {where}"
            outcome = RunOutcome(exit_code=COULD_NOT_RUN, error=error)
    write(outcome, outcome_path)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
