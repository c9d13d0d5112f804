"""`lockgate run`: select the workflows an event triggers and run them, recording everything."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common.errors import UserError
from ..common.gitinfo import RepoInfo, ask_repo_info, changed_between, repo_info
from ..common.processes import become_subreaper, kill_children
from ..common.statedir import state_dir
from ..store import Store
from ..store.records import Conclusion, Status
from ..workflow.expressions import Value
from ..workflow.loader import LoadedWorkflow
from ..workflow.project import load_project
from .cache.jobcache import JobCache
from .calls import typed_inputs
from .context import RunContext
from .leftovers import work_root as make_work_root
from .orchestrator import WorkflowRun, combine
from .placement import JobPlacement
from .plan import select
from .refs import ref_of
from .state import JobRun, Observer, RunOptions
from .triggers import Event
from .workspace import RunSnapshot


@dataclass
class WorkflowResult:
    run_id: int
    workflow: str
    file: str
    conclusion: Conclusion  # of the jobs that ended, while some wait
    jobs: list[JobRun]

    @property
    def held(self) -> list[JobRun]:
        """The jobs waiting for their environment's review or timer (not those that only
        wait for them)."""
        return [job for job in self.jobs if job.held is not None]


def event_for(options: RunOptions, repo: RepoInfo) -> Event:
    payload = options.event_payload
    ref = ref_of(options.event_name, payload, repo.branch).filtered
    action = payload.get("action")
    changed = repo.changed_files
    before, after = payload.get("before"), payload.get("after") or repo.sha
    if isinstance(before, str) and isinstance(after, str):
        changed = changed_between(options.repo_dir, before, after) or changed
    return Event(options.event_name, ref, changed, str(action) if action is not None else None)


def dispatched_inputs(event: str, payload: dict[str, Any]) -> dict[str, str]:
    """A workflow_dispatch event's own inputs (as GitHub sends them: `inputs` in the event),
    which `--input` overrides."""
    given = payload.get("inputs") if event == "workflow_dispatch" else None
    if not isinstance(given, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in given.items()}


def dispatch_inputs(wf: LoadedWorkflow, options: RunOptions) -> dict[str, Value]:
    on = wf.model.on
    declared = {}
    if options.event_name == "workflow_dispatch" and on.workflow_dispatch is not None:
        declared = on.workflow_dispatch.inputs
    elif options.event_name == "workflow_call" and on.workflow_call is not None:
        declared = on.workflow_call.inputs
    unknown = [k for k in options.inputs if k not in declared]
    if unknown and declared:
        raise UserError(
            f"input {unknown[0]!r} is not declared by {wf.display}",
            where="--input",
            hint=f"declared inputs: {', '.join(declared)}",
        )
    return typed_inputs(declared, dict(options.inputs), f"{wf.display}: inputs")


def selection(
    options: RunOptions, repo: RepoInfo | None = None
) -> tuple[list[LoadedWorkflow], list[tuple[LoadedWorkflow, str]]]:
    """The workflows the event triggers, and why each other one is not triggered."""
    info = repo or repo_info(options.repo_dir)
    chosen = select(options.repo_dir, options.workflows, event_for(options, info))
    if not options.job_filter:
        return chosen.triggered, chosen.not_triggered
    # -j picks the job in every triggered workflow that has it.
    having = [wf for wf in chosen.triggered if set(options.job_filter) & set(wf.model.jobs)]
    if chosen.triggered and not having:
        known = sorted({job for wf in chosen.triggered for job in wf.model.jobs})
        raise UserError(
            f"no triggered workflow has a job {' or '.join(map(repr, options.job_filter))}",
            where="-j",
            hint=f"jobs of the triggered workflows: {', '.join(known)}",
        )
    skipped = [(wf, "has none of the jobs -j names") for wf in chosen.triggered if wf not in having]
    return having, [*chosen.not_triggered, *skipped]


class Runner:
    def __init__(
        self,
        options: RunOptions,
        store: Store,
        observer: Observer,
        placement: JobPlacement | None = None,
    ) -> None:
        self.options = options
        self.placement = placement  # None: every job runs here
        self.store = store
        self.observer = observer
        asked = ask_repo_info(options.repo_dir)  # git answers while lockgate.yml is read
        self.project = load_project(options.repo_dir)
        self.repo = asked()
        self.state_dir = options.repo_dir / ".lockgate"
        self.interrupted = False  # Ctrl-C or SIGTERM, as opposed to jobs cancelled by the run

    def selection(self) -> tuple[list[LoadedWorkflow], list[tuple[LoadedWorkflow, str]]]:
        return selection(self.options, self.repo)

    async def run(self, workflows: list[LoadedWorkflow]) -> list[WorkflowResult]:
        # Orphans of steps (double-forked, env cleared) become our children: none outlives us.
        become_subreaper()
        ctx = RunContext(
            self.options, self.store, self.repo, self.observer, self.state_dir, self.project
        )
        ctx.placement = self.placement
        runs: list[tuple[WorkflowRun, Path]] = []
        state_dir(self.options.repo_dir)
        # With --no-cache it still keys jobs: the key is the job's input tree, which its test
        # results are compared on (flaky tests), but nothing is read or saved.
        ctx.job_cache = JobCache(
            self.options,
            self.store,
            self.repo,
            self.observer,
            self.state_dir,
            self.project,
            self.options.remote_cache,
        )
        if self.options.fail_fast:

            def stop_on_failure() -> None:
                if not any(run.stopped for run, _ in runs):
                    self.observer.message("a job failed: cancelling the rest (--fail-fast)")
                for run, _ in runs:
                    run.cancel()

            ctx.job_failed = stop_on_failure
        work_root = make_work_root()
        try:
            shared: RunSnapshot | None = None
            if not self.options.bind:
                cache = ctx.job_cache
                shared = RunSnapshot(
                    self.repo,
                    work_root / "snapshot",
                    cache.check_unchanged if cache is not None else lambda: None,
                )
            for wf in workflows:
                inputs = dispatch_inputs(wf, self.options)
                run_id = ctx.recorder.run_created(
                    workflow=wf.model.name or wf.display,
                    workflow_file=wf.display,
                    event=self.options.event_name,
                    sha=self.repo.sha,
                    ref=ctx.ref.ref,
                    branch=self.repo.branch,
                    dirty=self.repo.dirty,
                    actor=self.options.actor,
                    repo_dir=str(self.options.repo_dir),
                    trigger_id=self.options.trigger_id,
                    commit_message=self.repo.commit_message or None,
                    commit_author=self.repo.commit_author or None,
                )
                run_dir = work_root / f"run-{run_id}"
                run = WorkflowRun(
                    ctx,
                    wf,
                    run_id,
                    run_dir,
                    shared,
                    inputs,
                    ctx.secrets(),
                    only=tuple(j for j in self.options.job_filter if j in wf.model.jobs),
                )
                runs.append((run, run_dir))
            await self._run_all(ctx, [r for r, _ in runs])
        finally:
            if ctx.children_before is not None:
                kill_children(keep=ctx.children_before)
            shutil.rmtree(work_root, ignore_errors=True)
            if ctx.job_cache is not None:
                ctx.job_cache.close()
        if ctx.job_cache is not None:
            ctx.job_cache.prune()
        self.interrupted = ctx.cancelled
        results = []
        for run, _ in runs:
            waiting = not ctx.cancelled and any(j.status == Status.WAITING for j in run.jobs)
            ended = [j for j in run.jobs if j.status != Status.WAITING]
            conclusion = (
                Conclusion.CANCELLED
                if ctx.cancelled
                else combine([j.verdict or Conclusion.CANCELLED for j in ended])
            )
            if conclusion == Conclusion.SKIPPED:
                conclusion = Conclusion.SUCCESS
            if waiting:
                ctx.recorder.run_waiting(run.run_id)
            else:
                ctx.recorder.run_finished(run.run_id, conclusion)
            results.append(
                WorkflowResult(
                    run.run_id,
                    run.model.name or run.wf.display,
                    run.wf.display,
                    conclusion,
                    run.jobs,
                )
            )
        return results

    async def _run_all(self, ctx: RunContext, runs: list[WorkflowRun]) -> None:
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            if ctx.cancelled:  # second Ctrl-C: stop waiting for cleanup steps
                for task in tasks:
                    task.cancel()
                return
            ctx.cancelled = True
            self.observer.message(
                "cancelling: stopping running steps (Ctrl-C again to skip cleanup steps)", "warning"
            )
            for run in runs:
                run.cancel()

        tasks = [asyncio.ensure_future(run.run()) for run in runs]
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, interrupt)
        try:
            await asyncio.gather(*tasks, return_exceptions=False)
        except asyncio.CancelledError:
            ctx.cancelled = True
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def overall(results: list[WorkflowResult]) -> Conclusion:
    """The conclusion of everything an event started: success only when every run succeeded."""
    return combine([r.conclusion for r in results]) if results else Conclusion.SUCCESS


def summary(results: list[WorkflowResult]) -> dict[str, Any]:
    return {
        "conclusion": overall(results),
        "runs": [
            {
                "run_id": r.run_id,
                "workflow": r.workflow,
                "file": r.file,
                "conclusion": r.conclusion,
                "jobs": [
                    {
                        "key": j.key,
                        "job_id": j.job_id,
                        "name": j.name,
                        "matrix": j.matrix,
                        "conclusion": j.conclusion,
                        "cached_from": j.cached_from,
                        "cache_key": j.cache_key,
                        "duration": j.duration,
                        "outputs": j.outputs,
                        "message": j.message,
                        "summary": j.summary,
                        "steps": [
                            {
                                "number": s.number,
                                "name": s.name,
                                "outcome": s.outcome,
                                "conclusion": s.conclusion,
                                "duration": s.duration,
                                "outputs": s.outputs,
                            }
                            for s in j.steps
                        ],
                    }
                    for j in r.jobs
                ],
            }
            for r in results
        ],
    }
