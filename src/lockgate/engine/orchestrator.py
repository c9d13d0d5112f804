"""Runs a workflow's jobs along the needs DAG: matrix, fail-fast, max-parallel, reusable calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common.errors import UserError
from ..store.records import Conclusion, Status
from ..workflow import schema
from ..workflow.expressions import ExpressionError, Value, evaluate, to_string, truthy
from ..workflow.loader import LoadedWorkflow
from ..workflow.template import render, render_condition, render_tree
from .calls import call_outputs, prepare_call
from .concurrency import Slot
from .context import RunContext, label_matches
from .github import GitHubContext
from .job import JobExecutor
from .matrix import MatrixError, expand, shown, value_at
from .matrix import label as matrix_label
from .placement import Execution, PlacedJob
from .plan import closure, job_needs, topological_order
from .protections import Hold, Refuse, verdict
from .scheduling import job_stats
from .state import FinishedJob, JobRun, Reused
from .workspace import RunSnapshot


@dataclass
class GroupResult:
    """What `needs.<job>` sees: one result for all matrix instances of a job."""

    result: Conclusion
    outputs: dict[str, str] = field(default_factory=dict)
    waiting: bool = False  # held by its environment's protection: what needs it waits too


def combine(conclusions: list[Conclusion]) -> Conclusion:
    if not conclusions:
        return Conclusion.SKIPPED
    for worst in (Conclusion.FAILURE, Conclusion.CANCELLED):
        if worst in conclusions:
            return worst
    return Conclusion.SUCCESS if Conclusion.SUCCESS in conclusions else Conclusion.SKIPPED


class WorkflowRun:
    def __init__(
        self,
        ctx: RunContext,
        wf: LoadedWorkflow,
        run_id: int,
        run_dir: Path,
        snapshot: RunSnapshot | None,
        inputs: dict[str, Value],
        secrets: dict[str, str],
        prefix: str = "",
        only: tuple[str, ...] = (),
    ) -> None:
        self.ctx = ctx
        self.wf = wf
        self.model = wf.model
        self.run_id = run_id
        self.run_dir = run_dir
        self.snapshot = snapshot
        self.inputs = inputs
        self.secrets = secrets
        self.prefix = prefix
        self.results: dict[str, GroupResult] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.jobs: list[JobRun] = []
        self.executors: dict[str, Execution] = {}
        self.children: list[WorkflowRun] = []  # runs of called reusable workflows
        self.stopped = False  # cancelled as a whole (Ctrl-C or a newer run's cancel-in-progress)
        self.stopped_jobs: set[str] = set()  # keys of jobs a newer job cancelled
        needs = job_needs(wf)
        self.order = topological_order(needs, where=wf.display)
        self.file_order = {job_id: i for i, job_id in enumerate(wf.model.jobs)}
        self.stats = job_stats(ctx.store.job_history(wf.display))
        self.needs = needs
        self.selected = closure(needs, only) if only else set(needs)
        self.only = set(only)  # the jobs asked for; the others selected are what they need
        unknown = [j for j in only if j not in needs]
        if unknown:
            raise UserError(
                f"no job {unknown[0]!r} in {wf.display}",
                where="-j",
                hint=f"jobs: {', '.join(needs)}",
            )

    # -- contexts ---------------------------------------------------------------------------
    def github(self, job_id: str = "") -> GitHubContext:
        return self.ctx.github(
            self.run_id, self.model.name or self.wf.display, self.wf.display, job_id
        )

    def needs_context(self, job_id: str) -> dict[str, Any]:
        return {
            need: {"result": self.results[need].result, "outputs": self.results[need].outputs}
            for need in self.needs[job_id]
        }

    def ancestors(self, job_id: str) -> set[str]:
        return closure(self.needs, self.needs[job_id]) - {job_id}

    def job_functions(self, job_id: str) -> dict[str, tuple[int, int, Any]]:
        results = [self.results[a].result for a in self.ancestors(job_id)]
        return {
            "success": (
                0,
                0,
                lambda: all(r == Conclusion.SUCCESS for r in results) and not self.stopped,
            ),
            "failure": (0, 0, lambda: "failure" in results),
            "cancelled": (0, 0, lambda: self.stopped),
            "always": (0, 0, lambda: True),
        }

    def base_contexts(
        self, job_id: str, matrix: dict[str, Any] | None, strategy: dict[str, Any] | None
    ) -> dict[str, Value]:
        return {
            "github": self.github(job_id).as_context(),
            "needs": self.needs_context(job_id),
            "vars": dict(self.ctx.options.vars),
            "secrets": self.secrets,
            "inputs": self.inputs,
            "matrix": matrix or {},
            "strategy": strategy or {},
        }

    def evaluate_in(
        self,
        job_id: str,
        value: Any,
        matrix: dict[str, Any] | None = None,
        strategy: dict[str, Any] | None = None,
    ) -> Any:
        """Render a job-level value (strategy, runs-on, name, ...) with the job-level contexts."""
        if not isinstance(value, (str, dict, list)):
            return value
        ctx = self.base_contexts(job_id, matrix, strategy)
        return render_tree(value, lambda source: evaluate(source, ctx))

    # -- running ------------------------------------------------------------------------------
    async def run(self) -> dict[str, GroupResult]:
        self.done = {job_id: asyncio.Event() for job_id in self.order}
        selected = [job_id for job_id in self.order if job_id in self.selected]
        workflow_ctx: dict[str, Value] = {
            "github": self.github().as_context(),
            "inputs": self.inputs,
            "vars": dict(self.ctx.options.vars),
        }
        try:
            entered = self.group(
                self.model.concurrency,
                lambda value: render(value, lambda s: evaluate(s, workflow_ctx)),
                self.wf.display,
                self.cancel,
            )
            async with entered as in_progress:
                if not in_progress:
                    for job_id in selected:
                        self.results[job_id] = self.finished_without_running(
                            job_id,
                            Conclusion.CANCELLED,
                            "a newer run entered its concurrency group",
                        )
                    return self.results
                if self.ctx.job_cache is not None:
                    # Every job's key digests the workspace's files: hash them once, off the loop.
                    await self.ctx.job_cache.hash_files()
                await self.run_jobs(selected)
        except ExpressionError as exc:
            for job_id in selected:
                self.results[job_id] = self.finished_without_running(
                    job_id, Conclusion.FAILURE, f"concurrency: {exc.message}"
                )
        return self.results

    async def run_jobs(self, selected: list[str]) -> None:
        tasks = [asyncio.ensure_future(self.run_group(job_id)) for job_id in selected]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise

    @contextlib.asynccontextmanager
    async def group(
        self,
        spec: schema.Concurrency | str | None,
        rendered: Callable[[Any], Any],
        label: str,
        on_cancel: Callable[[], None],
    ) -> AsyncIterator[bool]:
        """Hold a `concurrency:` group for the block; yields False when superseded while waiting."""
        if spec is None:
            yield True
            return
        concurrency = schema.Concurrency(group=spec) if isinstance(spec, str) else spec
        group = to_string(rendered(concurrency.group))
        cancel_in_progress = truthy(rendered(concurrency.cancel_in_progress))
        slot = Slot(self.ctx.store, group)
        waiting = f"{label}: waiting for concurrency group {group!r}"
        if not await slot.wait(cancel_in_progress, lambda: self.ctx.observer.message(waiting)):
            yield False
            return
        slot.watch(on_cancel)
        try:
            yield True
        finally:
            slot.release()

    def cancel(self) -> None:
        self.stopped = True
        for executor in self.executors.values():
            executor.cancel()
        for child in self.children:
            child.cancel()

    async def run_group(self, job_id: str) -> None:
        try:
            for need in self.needs[job_id]:
                await self.done[need].wait()
            spec = self.model.jobs[job_id]
            self.results[job_id] = await self.start_group(job_id, spec)
        finally:
            self.done[job_id].set()

    async def start_group(self, job_id: str, spec: schema.Job | schema.CallJob) -> GroupResult:
        held = next((n for n in self.needs[job_id] if self.results[n].waiting), None)
        if held is not None:
            return self.without_running(job_id, None, f"waiting for {held!r}", Status.WAITING)
        reused = self.ctx.options.reuse.get(job_id) if self.only else None
        if reused is not None and job_id not in self.only:
            return self.reused(job_id, reused)
        try:
            condition = self.condition(job_id)
        except ExpressionError as exc:
            return self.finished_without_running(
                job_id, Conclusion.FAILURE, f"invalid `if`: {exc.message}"
            )
        if not truthy(condition) and self.stopped:
            return self.finished_without_running(
                job_id, Conclusion.CANCELLED, "the run was cancelled"
            )
        if not truthy(condition):
            unsuccessful = [
                n for n in self.needs[job_id] if self.results[n].result != Conclusion.SUCCESS
            ]
            why = (
                f"needed job {unsuccessful[0]!r} did not succeed"
                if spec.if_ is None and unsuccessful
                else "its `if` condition was false"
            )
            return self.finished_without_running(job_id, Conclusion.SKIPPED, why)
        try:
            combos, strategy = self.strategy(job_id, spec)
        except (MatrixError, ExpressionError, UserError) as exc:
            message = exc.message if isinstance(exc, ExpressionError) else str(exc)
            return self.finished_without_running(job_id, Conclusion.FAILURE, f"strategy: {message}")
        if not combos:
            return self.finished_without_running(job_id, Conclusion.SKIPPED, "the matrix is empty")
        if isinstance(spec, schema.CallJob):
            return await self.run_call(job_id, spec, combos[0], strategy)
        return await self.run_matrix(job_id, spec, combos, strategy)

    def condition(self, job_id: str) -> Value:
        spec = self.model.jobs[job_id]
        contexts = self.base_contexts(job_id, None, None)
        functions = self.job_functions(job_id)
        return render_condition(spec.if_, lambda s: evaluate(s, contexts, functions))

    def still_wanted(self, job_id: str) -> bool:
        """After a run-wide stop, a job waiting for a slot starts only if its `if` still holds
        (always(), cancelled(), failure() ...), as on GitHub."""
        try:
            return truthy(self.condition(job_id))
        except ExpressionError:
            return False

    def strategy(
        self, job_id: str, spec: schema.Job | schema.CallJob
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        strat = spec.strategy or schema.Strategy()
        raw = self.evaluate_in(job_id, strat.matrix)
        if isinstance(raw, dict):
            raw = {k: self.evaluate_in(job_id, v) for k, v in raw.items()}
        if raw is not None and not isinstance(raw, dict):
            raise MatrixError(f"matrix must be a mapping, got {to_string(raw)!r}")
        combos = expand(raw)
        wanted = self.ctx.options.matrix_filter
        if wanted:
            kept = [
                c
                for c in combos
                if all(value_at(c, k) is None or shown(value_at(c, k)) == v
                       for k, v in wanted.items())
            ]  # fmt: skip
            if combos and not kept:
                found = {k: sorted({shown(value_at(c, k)) for c in combos
                                    if value_at(c, k) is not None}) for k in wanted}  # fmt: skip
                raise MatrixError(
                    "no matrix combination matches --matrix "
                    + ", ".join(f"{k}:{v}" for k, v in wanted.items())
                    + f" (values here: {found})"
                )
            combos = kept
        fail_fast = truthy(self.evaluate_in(job_id, strat.fail_fast))
        max_parallel = self.evaluate_in(job_id, strat.max_parallel)
        strategy = {
            "fail-fast": fail_fast,
            "job-total": len(combos),
            "max-parallel": int(float(max_parallel)) if max_parallel else len(combos),
        }
        return combos, strategy

    def finished_without_running(
        self, job_id: str, conclusion: Conclusion, message: str
    ) -> GroupResult:
        return self.without_running(job_id, conclusion, message)

    def without_running(
        self,
        job_id: str,
        conclusion: Conclusion | None,
        message: str,
        status: Status = Status.COMPLETED,
        outputs: dict[str, str] | None = None,
        cached_from: int | None = None,
    ) -> GroupResult:
        """A job recorded as it ended (or waits) without running here."""
        message = self.ctx.masker(message)  # an expression's error may quote a secret
        spec = self.model.jobs[job_id]
        job = JobRun(
            self.prefix + job_id,
            job_id,
            self.prefix + (spec.name or job_id),
            {},
            status=status,
            conclusion=conclusion,
            message=message,
            outputs=dict(outputs or {}),
            cached_from=cached_from,
        )
        self.ctx.recorder.job_created(
            job,
            self.run_id,
            status=status,
            conclusion=conclusion,
            message=message,
            finished_at=time.time() if status == Status.COMPLETED else None,
            needs=[self.prefix + need for need in spec.needs],
            outputs=job.outputs or None,
            cached_from=cached_from,
        )
        self.jobs.append(job)
        waiting = status == Status.WAITING
        return GroupResult(conclusion or Conclusion.SKIPPED, job.outputs, waiting)

    def reused(self, job_id: str, earlier: Reused) -> GroupResult:
        """A job an earlier run finished, taken as it ended: what needs it sees its outputs."""
        return self.without_running(
            job_id,
            earlier.conclusion,
            f"taken from run {earlier.run_id}, where it ended",
            outputs=earlier.outputs,
            cached_from=earlier.run_id,
        )

    def new_job(
        self, job_id: str, spec: schema.Job, matrix: dict[str, Any], strategy: dict[str, Any]
    ) -> JobRun:
        key = f"{job_id} ({matrix_label(matrix)})" if matrix else job_id
        name = key
        if spec.name:
            with contextlib.suppress(ExpressionError):
                name = to_string(self.evaluate_in(job_id, spec.name, matrix, strategy))
            if matrix and "${{" not in spec.name:
                name = f"{name} ({matrix_label(matrix)})"
        environment = spec.environment
        written = environment.name if isinstance(environment, schema.Environment) else environment
        env_name = None
        if written:
            try:
                env_name = to_string(self.evaluate_in(job_id, written, matrix, strategy)) or None
            except ExpressionError:
                env_name = written
        # A name (or a matrix value shown in it) may hold a secret: only the masked one is kept.
        key, name = self.ctx.masker(key), self.ctx.masker(name)
        job = JobRun(self.prefix + key, job_id, self.prefix + name, matrix)
        job.environment = env_name
        job.continue_on_error = truthy(
            self.evaluate_in(job_id, spec.continue_on_error, matrix, strategy)
        )
        self.ctx.recorder.job_created(
            job,
            self.run_id,
            status="queued",
            environment=env_name,
            needs=[self.prefix + need for need in spec.needs],
        )
        self.jobs.append(job)
        return job

    async def run_matrix(
        self, job_id: str, spec: schema.Job, combos: list[dict[str, Any]], strategy: dict[str, Any]
    ) -> GroupResult:
        limit = asyncio.Semaphore(strategy["max-parallel"])
        jobs = [
            self.new_job(job_id, spec, m, {**strategy, "job-index": i})
            for i, m in enumerate(combos)
        ]
        group_failed = False

        async def one(index: int, job: JobRun) -> None:
            nonlocal group_failed
            job_strategy = {**strategy, "job-index": index}

            def stop() -> None:
                job.message = "cancelled by a newer job in its concurrency group"
                self.stopped_jobs.add(job.key)
                if job.key in self.executors:
                    self.executors[job.key].cancel()

            async with limit:
                try:
                    entered = self.group(
                        spec.concurrency,
                        lambda value: self.evaluate_in(job_id, value, job.matrix, job_strategy),
                        job.name,
                        stop,
                    )
                    async with entered as in_progress:
                        if not in_progress:
                            self.mark(
                                job,
                                Conclusion.CANCELLED,
                                "a newer job entered its concurrency group",
                            )
                            return
                        async with self.ctx.slots.hold(self.rank(job_id)):
                            if (
                                (group_failed and strategy["fail-fast"])
                                or self.ctx.cancelled
                                or (self.stopped and not self.still_wanted(job_id))
                            ):
                                self.mark(job, Conclusion.CANCELLED, "cancelled before it started")
                                return
                            await self.run_job(job, spec, job_strategy)
                except ExpressionError as exc:
                    self.mark(job, Conclusion.FAILURE, f"concurrency: {exc.message}")
                    return
            if job.conclusion == Conclusion.FAILURE and not job.continue_on_error:
                group_failed = True
                self.ctx.job_failed()
                if strategy["fail-fast"]:
                    for other in jobs:
                        executor = self.executors.get(other.key)
                        if other is not job and executor and other.status == "running":
                            executor.cancel()

        await asyncio.gather(*(one(i, job) for i, job in enumerate(jobs)))
        outputs: dict[str, str] = {}
        for job in jobs:
            outputs.update(job.outputs)
        waiting = any(job.status == Status.WAITING for job in jobs)
        return GroupResult(combine([j.verdict for j in jobs if j.verdict]), outputs, waiting)

    def rank(self, job_id: str) -> tuple[float, int]:
        """Fastest-first: likeliest to fail soonest, then file order."""
        stats = self.stats.get(job_id)
        return (-stats.score if stats else 0.0, self.file_order[job_id])

    def mark(self, job: JobRun, conclusion: Conclusion, message: str) -> None:
        message = self.ctx.masker(message)
        job.status, job.conclusion, job.message = Status.COMPLETED, conclusion, message
        job.finished = time.time()
        self.ctx.recorder.job_changed(
            job,
            status=Status.COMPLETED,
            conclusion=conclusion,
            message=message,
            finished_at=job.finished,
        )

    def hold(self, job: JobRun, held: Hold) -> None:
        """The job waits for its environment's review or timer; the run ends without it, and
        a run that goes on after the review runs it."""
        job.status, job.held, job.message = Status.WAITING, held, held.reason
        self.ctx.recorder.job_changed(job, status=Status.WAITING, message=held.reason)

    def container_image(self, job: JobRun, spec: schema.Job, strategy: dict[str, Any]) -> str:
        """The job's container image; empty, as on GitHub, means no container (a matrix whose
        `container: ${{ matrix.image }}` is '' on some legs)."""
        given = spec.container.image if isinstance(spec.container, schema.Container) else (
            spec.container or "")  # fmt: skip
        try:
            image = self.evaluate_in(job.job_id, given, job.matrix, strategy)
        except ExpressionError:
            return str(given)
        return to_string(image).strip() if image is not None else ""

    async def run_job(self, job: JobRun, spec: schema.Job, strategy: dict[str, Any]) -> None:
        if job.environment is not None:
            options = self.ctx.options
            decided = verdict(
                options.protections.get(job.environment),
                self.ctx.ref,
                options.clearances.get(job.environment),
            )
            if isinstance(decided, Refuse):
                self.mark(job, Conclusion.FAILURE, decided.reason)
                return
            if isinstance(decided, Hold):
                self.hold(job, decided)
                return
        try:
            labels = self.evaluate_in(job.job_id, spec.runs_on, job.matrix, strategy)
        except ExpressionError as exc:
            self.mark(job, Conclusion.FAILURE, f"runs-on: {exc.message}")
            return
        if isinstance(labels, dict):
            labels = labels.get("labels") or []
        label_list = [labels] if isinstance(labels, str) else [to_string(x) for x in labels]
        platforms = self.ctx.options.platforms
        missing = [label for label in label_list if not label_matches(label, platforms)]
        if missing and self.ctx.placement is None:  # (a placement finds a worker that has them)
            self.mark(
                job,
                Conclusion.SKIPPED,
                f"runs-on {missing[0]!r} is not a label of this runner; map it with "
                f"--platform {missing[0]}=local",
            )
            self.ctx.observer.message(f"{job.name}: {job.message}", "warning")
            return
        if spec.services:
            self.mark(
                job,
                Conclusion.FAILURE,
                "this job needs `services:` ("
                + ", ".join(spec.services)
                + "), which need a container engine (podman "
                "or docker); none works on this machine",
            )
            return
        if self.container_image(job, spec, strategy):
            self.ctx.observer.message(
                f"{job.name}: no container engine works here; running the `container:` job "
                "on the host instead",
                "warning",
            )
        contexts = self.base_contexts(job.job_id, job.matrix, strategy)
        protection = self.ctx.options.protections.get(job.environment or "")
        if protection is not None:  # its environment's secrets and variables: its jobs' alone
            contexts["secrets"] = {**self.secrets, **protection.secrets}
            contexts["vars"] = {**self.ctx.options.vars, **protection.vars}
        # After Ctrl-C every job is cancelled; after a run-wide stop (--fail-fast, a newer run's
        # cancel-in-progress) a job that still starts was asked for by always() and runs.
        cancelled = self.ctx.cancelled or job.key in self.stopped_jobs
        cache, key, cacheable = self.ctx.job_cache, None, False
        if cache is not None and not cancelled:
            # The key digests the job's inputs: the cache's key, and the tree its test results
            # are compared on, so it is kept for jobs the cache does not keep too. Inline: the
            # files are hashed already (run()), what is left is a few small digests.
            key = cache.key(self.wf, job.job_id, contexts, label_list)
            cacheable = cache.cacheable(job.job_id, spec)
            hit = await cache.find(key) if cacheable else None
            if hit is not None:
                cache.restore(job, key, hit, self.run_id, self.ctx.recorder)
                return
            job.cache_key = key
            self.ctx.recorder.job_changed(job, cache_key=key)

        async def save(done: FinishedJob) -> None:
            assert cache is not None and key is not None
            await cache.save(key, done, self.wf.display)

        executor: Execution
        if self.ctx.placement is not None:  # on a worker of another machine
            executor = self.ctx.placement.place(PlacedJob(
                job, self.wf, tuple(label_list), self.github(job.job_id), contexts,
                self.run_id, self.run_dir, self.ctx.recorder))  # fmt: skip
            self.executors[job.key] = executor
            executor.cancel_requested = cancelled or self.ctx.cancelled or (
                job.key in self.stopped_jobs)  # fmt: skip
            await executor.execute(save if cacheable else None)
            return
        self.ctx.job_runs()
        snapshot = await self.snapshot.path() if self.snapshot is not None else None
        executor = JobExecutor(
            self.ctx,
            job,
            spec,
            self.model,
            self.github(job.job_id),
            contexts,
            self.run_dir,
            self.run_id,
            snapshot,
        )
        self.executors[job.key] = executor
        # Read again: a Ctrl-C or SIGTERM while the job was keyed and its workspace copied
        # (cancel() did not know this executor yet) still cancels it.
        executor.cancel_requested = cancelled or self.ctx.cancelled or job.key in self.stopped_jobs
        await executor.execute(save if cacheable else None)

    # -- reusable workflows ---------------------------------------------------------------------
    async def run_call(
        self, job_id: str, spec: schema.CallJob, matrix: dict[str, Any], strategy: dict[str, Any]
    ) -> GroupResult:
        try:
            call = prepare_call(
                self.ctx.options,
                self.wf,
                job_id,
                spec,
                lambda value: self.evaluate_in(job_id, value, matrix, strategy),
                self.secrets,
            )
        except (UserError, ExpressionError) as exc:
            message = exc.message if isinstance(exc, ExpressionError) else str(exc)
            return self.finished_without_running(job_id, Conclusion.FAILURE, message)
        inner = WorkflowRun(
            self.ctx,
            call.workflow,
            self.run_id,
            self.run_dir,
            self.snapshot,
            call.inputs,
            call.secrets,
            prefix=f"{self.prefix}{job_id} / ",
        )
        self.children.append(inner)
        results = await inner.run()
        self.jobs.extend(inner.jobs)
        jobs = {k: {"result": r.result, "outputs": r.outputs} for k, r in results.items()}
        contexts: dict[str, Value] = {
            "github": self.github(job_id).as_context(),
            "jobs": jobs,
            "inputs": call.inputs,
            "vars": dict(self.ctx.options.vars),
        }
        outputs = call_outputs(call.workflow, contexts)
        waiting = any(r.waiting for r in results.values())  # a protected job in it is held
        return GroupResult(combine([r.result for r in results.values()]), outputs, waiting)
