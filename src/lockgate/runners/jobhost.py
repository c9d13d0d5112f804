"""One job on a worker, in the worker pool's process: claim it from the server, fetch its
commit (a git bundle the server makes), take the run's artifacts so far, and run it with the
engine's JobExecutor as `lockgate run` would, its records going to the server as they are
written. Secrets live in this process's memory only: nothing of them reaches the disk."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from pathlib import Path

from ..actions.builtin import artifact_root
from ..common.gitinfo import repo_info
from ..engine.context import RunContext
from ..engine.github import GitHubContext
from ..engine.job import JobExecutor
from ..engine.recorder import Recorder
from ..engine.refs import GitRef
from ..engine.state import JobRun, RunOptions, Silent
from ..store import Store
from ..store.records import Conclusion, Status
from ..workflow import schema
from ..workflow.project import load_project
from .client import NotOurs, WorkerClient
from .payload import Claimed, JobFields, UpdateJob
from .remotesink import RemoteSink
from .remotetests import RemoteTests
from .settings import WorkerSettings

BEAT_EVERY = 1.0  # seconds between a running job's beats (and cancel checks)


def local_store(home: Path) -> str:
    """The worker's own store, which a job's context holds (its records and test results go
    to the server); made when the worker starts: its pool's processes only open it."""
    return f"sqlite:///{home / 'worker.db'}"


def run_assignment(settings: WorkerSettings, assignment: int, attempt: int) -> None:
    client = WorkerClient(settings.server, settings.token, settings.address)
    workdir = settings.home / "jobs" / f"{assignment}-{attempt}"
    try:
        claimed = client.claim(assignment, attempt)
        if claimed is None:  # cancelled, run elsewhere, or an old delivery: nothing to do
            return
        try:
            asyncio.run(_run(client, settings, assignment, claimed, workdir))
        except NotOurs:
            return  # taken for lost and sent again: the other attempt reports it
        except Exception as exc:  # its checkout, its workflow, a bug: the job says so at once
            # rather than wait to be taken for lost
            said = f"worker {settings.name} could not run it: {exc}"
            ended = JobFields(status=Status.COMPLETED, conclusion=Conclusion.FAILURE,
                              finished_at=time.time(), message=said)  # fmt: skip
            client.record(assignment, [UpdateJob(fields=ended)])
        client.finish(assignment)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        client.close()


def _checkout(client: WorkerClient, assignment: int, sha: str, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    bundle, repo = workdir / "source.bundle", workdir / "repo"
    client.source(assignment, bundle)
    for command in (["git", "clone", "-q", "--no-checkout", str(bundle), str(repo)],
                    ["git", "-C", str(repo), "checkout", "-q", "--detach", sha]):  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:3])}: {done.stderr.strip()}")
    bundle.unlink()
    return repo


async def _run(client: WorkerClient, settings: WorkerSettings, assignment: int,
               claimed: Claimed, workdir: Path) -> None:  # fmt: skip
    job_spec = claimed.payload
    repo = await asyncio.to_thread(_checkout, client, assignment, job_spec.sha, workdir)
    state_dir = workdir / "state"
    await asyncio.to_thread(client.artifacts, assignment,
                            artifact_root(state_dir, job_spec.run_id))  # fmt: skip
    github_fields = dict(job_spec.github)
    github = GitHubContext(**{**github_fields, "ref": GitRef(**github_fields["ref"]),
                              "token": claimed.secrets.get("GITHUB_TOKEN", "")})  # fmt: skip
    options = RunOptions(
        repo_dir=repo, event_name=job_spec.event_name, secrets=claimed.secrets,
        actor=job_spec.actor, event_payload=github.event, github_url=job_spec.github_url,
        kill_grace=job_spec.kill_grace, max_jobs=1,
    )  # fmt: skip
    store = Store(local_store(settings.home))  # what the engine's context holds: unwritten
    ctx = RunContext(options, store, repo_info(repo), Silent(), state_dir, load_project(repo))
    ctx.recorder = Recorder(RemoteSink(client, assignment), Silent(), ctx.masker)
    ctx.tests = RemoteTests(client, assignment)
    model = schema.Workflow.model_validate(job_spec.workflow)
    spec = model.jobs[job_spec.job_id]
    if not isinstance(spec, schema.Job):
        raise RuntimeError(f"{job_spec.job_id} calls a workflow: the server runs calls")
    job = JobRun(job_spec.job_key, job_spec.job_id, job_spec.job_name, job_spec.matrix,
                 row=job_spec.job_row, continue_on_error=job_spec.continue_on_error,
                 environment=job_spec.environment, cache_key=job_spec.cache_key)  # fmt: skip
    contexts = {**job_spec.contexts, "secrets": claimed.secrets, "github": github.as_context()}
    # The checkout is the job's snapshot: actions/checkout copies it into the job's workspace,
    # as on the server (a job without it starts in an empty workspace, as on GitHub).
    executor = JobExecutor(ctx, job, spec, model, github, contexts, workdir / "run",
                           job_spec.run_id, repo)  # fmt: skip
    lost = False

    async def beat() -> None:
        nonlocal lost
        while True:
            await asyncio.sleep(BEAT_EVERY)
            try:
                said = await asyncio.to_thread(client.beat, assignment)
            except NotOurs:
                lost = True
                executor.cancel()
                return
            if said.cancel and not executor.cancel_requested:
                executor.cancel()

    beating = asyncio.create_task(beat())
    try:
        await executor.execute()
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
    if lost:
        raise NotOurs("the server took this worker for lost")
