"""One job on the local runner: its steps in order, and what their results do to the job.

What a step does is its kind's business (`steps/`); what it prints is read into effects
(`commands.py`); its command files are read by `envfiles.CommandFiles`; every record is written
by the run's recorder. The executor orders the steps, evaluates their conditions, applies
their results, and runs the post steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from ..actions.builtin import ActionFailed
from ..common.errors import UserError
from ..store.records import Conclusion, Status
from ..workflow import schema
from ..workflow.expressions import ExpressionError, Value, evaluate, to_string, truthy
from ..workflow.template import inserted, is_insert, render, render_condition
from . import commands
from .commands import CommandReader, Effect
from .context import RunContext, hash_files, host_env
from .envfiles import CommandFiles, EnvFileError
from .github import GitHubContext, runner_context
from .leftovers import run_marker
from .process import ProcessGroups, stream_process
from .state import Annotation, FinishedJob, JobRun, StepRun
from .steps.base import PostStep, Scope, StepCall, StepFailed
from .steps.kinds import step_kind
from .steptests import record_tests
from .sudo import sudo_directory
from .testreports import StepTests


class JobExecutor:
    def __init__(
        self,
        run: RunContext,
        job: JobRun,
        spec: schema.Job,
        workflow: schema.Workflow,
        github: GitHubContext,
        base_contexts: dict[str, Value],
        run_dir: Path,
        run_id: int,
        snapshot: Path | None,
    ) -> None:
        self.run = run
        self.recorder = run.recorder
        self.job = job
        self.spec = spec
        self.workflow = workflow
        self.base = base_contexts  # github, needs, strategy, matrix, inputs, vars, secrets
        self.run_id = run_id
        self.snapshot = snapshot
        self.dir = run_dir / "jobs" / str(job.row)
        self.temp = self.dir / "temp"
        self.workspace = run.options.repo_dir if snapshot is None else self.dir / "workspace"
        self.github = github.within(job.job_id, str(self.workspace))
        self.command_files = CommandFiles(self.dir / "files")
        self.groups = ProcessGroups()
        self.env: dict[str, str] = {}  # workflow + job env, then GITHUB_ENV additions
        self.paths: list[str] = []  # GITHUB_PATH additions, newest first
        self.failed = False
        self.cancel_requested = False
        self.timed_out = False
        self.posts: list[PostStep] = []
        self.current: asyncio.Future[bool] | None = None
        self.scope = Scope()  # the job's own `steps` context
        self.state: dict[str, str] = {}  # GITHUB_STATE of the action running now
        self.artifacts: list[tuple[str, str, int]] = []  # uploaded by this job: name, path, size

    # -- public ----------------------------------------------------------------------------
    def time_out(self, seconds: float) -> None:
        self.timed_out = self.failed = True
        self.job.message = (
            f"the job exceeded its timeout-minutes ({seconds / 60:g} min) and was cancelled"
        )
        self.annotate(Annotation("error", self.job.message))
        self.cancel()

    def cancel(self) -> None:
        """Soft cancel: kill the running step; only always()/cancelled() steps still run."""
        self.cancel_requested = True
        if self.current is not None:
            self.current.cancel()

    async def execute(
        self, on_success: Callable[[FinishedJob], Awaitable[None]] | None = None
    ) -> None:
        """Run the job; `on_success` sees a successful job before its workspace is removed."""
        job = self.job
        for d in (self.temp, self.workspace):
            d.mkdir(parents=True, exist_ok=True)
        self.recorder.job_started(job)
        timeout = self.minutes(self.spec.timeout_minutes, "timeout-minutes") * 60
        # A timeout cancels the job as GitHub does: the running step is stopped and only the
        # steps guarded by always()/cancelled() still run, then the post steps.
        timer = asyncio.get_running_loop().call_later(timeout, self.time_out, timeout)
        try:
            self.env = self.initial_env()
            await self.run_steps(self.spec.steps, self.scope)
            await self.run_posts()
        except (UserError, StepFailed, ExpressionError) as exc:
            self.failed = True
            text = str(exc) if not isinstance(exc, ExpressionError) else exc.message
            job.message = self.run.masker(text)
            self.annotate(Annotation("error", job.message))
        finally:
            timer.cancel()
            self.groups.kill_all()
        if self.timed_out:
            job.conclusion = Conclusion.FAILURE
        elif self.cancel_requested:
            job.conclusion = Conclusion.CANCELLED
        else:
            job.conclusion = Conclusion.FAILURE if self.failed else Conclusion.SUCCESS
        with contextlib.suppress(ExpressionError, StepFailed):
            job.outputs = self.job_outputs()
        self.recorder.job_finished(job, environment_url=self.environment_url())
        if (
            on_success is not None
            and job.conclusion == Conclusion.SUCCESS
            and not self.run.cancelled
        ):
            await on_success(FinishedJob(job, self.run_id, self.workspace, self.artifacts))
        if self.snapshot is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- contexts and expressions --------------------------------------------------------
    def status_functions(self, scope: Scope) -> dict[str, tuple[int, int, Callable[..., Value]]]:
        # Inside a composite action a failed step of that action counts as the job's would.
        return {
            "success": (0, 0, lambda: not self.failed_in(scope) and not self.cancel_requested),
            "failure": (0, 0, lambda: self.failed_in(scope)),
            "cancelled": (0, 0, lambda: self.cancel_requested),
            "always": (0, 0, lambda: True),
            "hashfiles": (1, 255, lambda *p: hash_files(self.workspace, tuple(map(to_string, p)))),
        }

    def contexts(self, scope: Scope, env: Mapping[str, str] | None = None) -> dict[str, Value]:
        action_path = str(scope.action_path) if scope.action_path is not None else None
        ctx: dict[str, Value] = {
            **self.base,
            "github": self.github.within(action_path=action_path).as_context(),
            "env": {**self.env, **scope.env} if env is None else dict(env),
            "job": {"status": self.job_status(), "container": {"network": ""}, "services": {}},
            "steps": scope.steps,
            "runner": runner_context(self.temp, self.tool_cache),
        }
        if scope.inputs is not None:
            ctx["inputs"] = scope.inputs
        return ctx

    @property
    def tool_cache(self) -> Path:
        return self.run.state_dir / "toolcache"

    def failed_in(self, scope: Scope) -> bool:
        return self.failed or scope.failed

    def step_failed(self, scope: Scope) -> None:
        """A step failed (continue-on-error aside): the job's, or its composite action's, which
        the step calling that action then answers for (its own continue-on-error included)."""
        if scope.depth:
            scope.failed = True
        else:
            self.failed = True

    def job_status(self) -> Conclusion:
        if self.cancel_requested:
            return Conclusion.CANCELLED
        return Conclusion.FAILURE if self.failed else Conclusion.SUCCESS

    def evaluator(
        self, scope: Scope, env: Mapping[str, str] | None = None
    ) -> Callable[[str], Value]:
        ctx = self.contexts(scope, env)
        functions = self.status_functions(scope)
        return lambda source: evaluate(source, ctx, functions)

    def render(self, value: Any, scope: Scope, env: Mapping[str, str] | None = None) -> Any:
        if isinstance(value, str):
            return render(value, self.evaluator(scope, env))
        return value

    def render_text(self, value: Any, scope: Scope, env: Mapping[str, str] | None = None) -> str:
        return to_string(self.render(value, scope, env))

    def minutes(self, value: Any, what: str) -> float:
        rendered = self.render(value, Scope()) if isinstance(value, str) else value
        try:
            minutes = float(rendered)
        except (TypeError, ValueError):
            raise UserError(f"{what} must be a number of minutes, got {rendered!r}") from None
        return minutes

    def initial_env(self) -> dict[str, str]:
        env: dict[str, str] = dict(self.run.options.env)  # --env: under the workflow's own
        for source in (self.workflow.env, self.spec.env):
            if isinstance(source, str):
                evaluated = self.render(source, Scope(), env)
                source = evaluated if isinstance(evaluated, dict) else {}
            self.add_env(env, source, Scope())
        return env

    def add_env(self, env: dict[str, str], source: Mapping[str, Any], scope: Scope) -> None:
        """An `env:` mapping's values, in order, each seeing those before it."""
        for key, value in source.items():
            if is_insert(key):
                merged = inserted(self.render(value, scope, env))
                env.update({k: to_string(v) for k, v in merged.items()})
            else:
                env[key] = self.render_text(value, scope, env) if value is not None else ""

    def environment_url(self) -> str | None:
        """`environment: {url}`, evaluated once the steps ran (it may name their outputs), as
        GitHub shows it on the run; None without one, or when it does not evaluate."""
        environment = self.spec.environment
        if not isinstance(environment, schema.Environment) or not environment.url:
            return None
        try:
            return self.run.masker(self.render_text(environment.url, self.scope)) or None
        except ExpressionError:
            return None

    def job_outputs(self) -> dict[str, str]:
        """As on GitHub, an output that holds a secret is not passed on (with a warning)."""
        outputs = {}
        for name, source in self.spec.outputs.items():
            value = self.render_text(source, self.scope)
            if self.run.masker(value) != value:
                self.annotate(
                    Annotation("warning", f"output {name!r} holds a secret and is not passed on")
                )
                continue
            outputs[name] = value
        return outputs

    def step_env(self, step_env: Any, scope: Scope) -> dict[str, str]:
        env = {**self.env, **scope.env}
        if isinstance(step_env, str):
            rendered = self.render(step_env, scope, env)
            step_env = rendered if isinstance(rendered, dict) else {}
        self.add_env(env, step_env, scope)
        return env

    def defaults(self) -> schema.RunDefaults:
        job, wf = self.spec.defaults.run, self.workflow.defaults.run
        return schema.RunDefaults(
            shell=job.shell or wf.shell,
            working_directory=job.working_directory or wf.working_directory,
        )

    # -- steps ------------------------------------------------------------------------------
    async def run_steps(self, steps: list[schema.Step], scope: Scope) -> bool:
        """Run steps in order; False when one of them failed (without continue-on-error)."""
        failed_here = False
        for index, step in enumerate(_in_order(steps)):
            record = self.recorder.step_started(self.job, self.step_name(step, index, scope))
            try:
                condition = render_condition(step.if_, self.evaluator(scope))
            except ExpressionError as exc:
                self.log(record, f"::error::the `if` of this step is invalid: {exc.message}")
                self.recorder.step_finished(
                    self.job, record, Conclusion.FAILURE, Conclusion.FAILURE
                )
                self.step_failed(scope)
                failed_here = True
                continue
            if not truthy(condition):
                self.recorder.step_finished(
                    self.job, record, Conclusion.SKIPPED, Conclusion.SKIPPED, Status.SKIPPED
                )
                self.remember(scope, step, record)
                continue
            outcome = await self.run_one(step, scope, record)
            tests = self.collect_tests(record, outcome, {})
            retries = self.run.project.rules(self.job.job_id).retry if step.run else 0
            first, attempt, failed_before = record.name, 1, dict[str, int]()
            while (
                outcome == Conclusion.FAILURE
                and tests.failed
                and retries
                and not self.cancel_requested
            ):
                retries, attempt = retries - 1, attempt + 1
                for test in tests.failed:
                    failed_before[test] = failed_before.get(test, 0) + 1
                said = f"{len(tests.failed)} tests failed: running the step again"
                self.annotate(Annotation("warning", said), record)
                self.recorder.step_finished(
                    self.job, record, outcome, Conclusion.SUCCESS
                )  # not final
                record = self.recorder.step_started(self.job, f"{first} (attempt {attempt})")
                outcome = await self.run_one(step, scope, record)
                tests = self.collect_tests(record, outcome, failed_before)
            continue_on_error = truthy(self.render(step.continue_on_error, scope))
            conclusion = (
                Conclusion.SUCCESS
                if outcome == Conclusion.FAILURE and continue_on_error
                else outcome
            )
            if tests.excused:
                conclusion = Conclusion.SUCCESS  # only quarantined tests failed
            if conclusion == Conclusion.FAILURE:
                self.step_failed(scope)
                failed_here = True
            self.recorder.step_finished(self.job, record, outcome, conclusion)
            self.remember(scope, step, record)
        return not failed_here

    def collect_tests(
        self, record: StepRun, outcome: str, failed_before: Mapping[str, int]
    ) -> StepTests:
        return record_tests(
            self.run,
            self.run_id,
            self.job,
            self.workspace,
            record,
            outcome,
            failed_before,
            self.annotate,
        )

    def remember(self, scope: Scope, step: schema.Step, record: StepRun) -> None:
        if step.id:
            scope.steps[step.id] = {
                "outputs": dict(record.outputs),
                "outcome": record.outcome,
                "conclusion": record.conclusion,
            }
        # From here on the record is only shown and stored: its outputs, masked.
        record.outputs = {k: self.run.masker(v) for k, v in record.outputs.items()}

    def step_name(self, step: schema.Step, index: int, scope: Scope) -> str:
        if step.name:
            with contextlib.suppress(ExpressionError):
                return self.render_text(step.name, scope)
            return step.name
        if step.run is not None:
            return "Run " + step.run.strip().splitlines()[0][:80]
        return f"Run {step.uses}"

    async def run_one(self, step: schema.Step, scope: Scope, record: StepRun) -> Conclusion:
        timeout = None
        if step.timeout_minutes is not None:
            timeout = self.minutes(self.render(step.timeout_minutes, scope), "timeout-minutes") * 60
        self.current = asyncio.ensure_future(self.run_kind(StepCall(step, scope, record)))
        try:
            async with asyncio.timeout(timeout):
                ok = await self.current
        except TimeoutError:
            self.log(
                record,
                f"::error::the step exceeded its timeout-minutes "
                f"({timeout / 60 if timeout else 0:g} min) and was stopped",
            )
            return Conclusion.FAILURE
        except asyncio.CancelledError:
            if self.cancel_requested and not _current_task_cancelling():
                self.log(record, "the step was cancelled")
                return Conclusion.CANCELLED
            raise
        except (StepFailed, UserError, EnvFileError) as exc:
            self.log(record, f"::error::{exc}")
            return Conclusion.FAILURE
        except ExpressionError as exc:
            self.log(record, f"::error::{exc.message}")
            return Conclusion.FAILURE
        finally:
            self.current = None
        return Conclusion.SUCCESS if ok else Conclusion.FAILURE

    async def run_kind(self, call: StepCall) -> bool:
        kind = step_kind(self, call)
        if not await kind.pre(self, call):
            return False
        ok = await kind.main(self, call)
        self.posts.extend(kind.posts(self, call))
        return ok

    async def run_posts(self) -> None:
        for post in reversed(self.posts):
            record = self.recorder.step_started(self.job, post.name)
            if not truthy(render_condition(post.condition, self.evaluator(Scope()))):
                self.recorder.step_finished(
                    self.job, record, Conclusion.SKIPPED, Conclusion.SKIPPED, Status.SKIPPED
                )
                continue
            try:
                ok = await post.run(record)
            except (StepFailed, ActionFailed, OSError) as exc:
                self.log(record, f"::error::{exc}")
                ok = False
            outcome = Conclusion.SUCCESS if ok else Conclusion.FAILURE
            self.failed = self.failed or not ok
            self.recorder.step_finished(self.job, record, outcome, outcome)

    # -- processes ---------------------------------------------------------------------------
    async def spawn(
        self, argv: list[str], env: Mapping[str, str], cwd: Path, record: StepRun, scope: Scope
    ) -> int:
        """Run a step's process with the job's command files, apply what it printed and wrote."""
        files = self.command_files.for_step()
        full_env = self.process_env(env, scope, files, record)
        reader = CommandReader(
            # As on GitHub, the step's env can re-enable the old set-env / add-path commands.
            unsecure=full_env.get("ACTIONS_ALLOW_UNSECURE_COMMANDS", "").lower() == "true",
            debug=self.run.options.secrets.get("ACTIONS_STEP_DEBUG") == "true",
        )
        code = await stream_process(
            argv,
            env=full_env,
            cwd=cwd,
            groups=self.groups,
            grace=self.run.options.kill_grace,
            on_line=lambda line: self.apply(reader.read(line), record),
            cut=self.run.masker.safe_cut,
        )
        written = self.command_files.take()
        self.env.update(written.env)
        self.paths[:0] = reversed(written.paths)
        record.outputs.update(written.outputs)
        self.state.update(written.state)
        if written.summary.strip():
            self.job.summary += self.run.masker(written.summary)
        return code

    def process_env(
        self, env: Mapping[str, str], scope: Scope, files: Mapping[str, Path], record: StepRun
    ) -> dict[str, str]:
        action_path = str(scope.action_path) if scope.action_path is not None else None
        full = host_env()
        full.update(
            self.github.within(action_path=action_path).environment(
                event_path=self.event_path(),
                action=f"__run_{record.number}",
                temp=self.temp,
                tool_cache=self.tool_cache,
                uses=scope.uses,
            )
        )
        full.update({name: str(path) for name, path in files.items()})
        full.update(env)
        for marker in (self.groups.marker, run_marker(self.run.options.repo_dir, self.run_id)):
            name, _, value = marker.partition("=")
            full[name] = value
        full["PATH"] = os.pathsep.join([*self.paths, env.get("PATH", full.get("PATH", ""))])
        stand_in = sudo_directory(self.dir / "sudo", full["PATH"])
        if stand_in is not None:  # last: a real sudo anywhere on PATH comes first
            full["PATH"] += os.pathsep + str(stand_in)
        return full

    def event_path(self) -> Path:
        path = self.dir / "event.json"
        if not path.exists():
            path.write_text(json.dumps(self.run.options.event_payload))
        return path

    # -- what steps say ------------------------------------------------------------------------
    def apply(self, effects: list[Effect], record: StepRun) -> None:
        """Apply what a line of the step's output said."""
        for effect in effects:
            match effect:
                case commands.Print(text):
                    self.log(record, text)
                case commands.Mask(value):
                    self.run.masker.add(value)
                case commands.Annotate(annotation):
                    self.annotate(annotation, record)
                case commands.SetOutput(name, value):
                    record.outputs[name] = value
                case commands.SaveState(name, value):
                    self.state[name] = value
                case commands.SetEnv(name, value):
                    self.env[name] = value
                case commands.AddPath(path):
                    self.paths.insert(0, path)

    def log(self, record: StepRun, line: str) -> None:
        self.recorder.log(self.job, record, line)

    def annotate(self, annotation: Annotation, record: StepRun | None = None) -> None:
        self.recorder.annotate(self.job, annotation, record)

    def artifacts_uploaded(self, artifacts: list[tuple[str, str, int]]) -> None:
        for name, path, size in artifacts:
            self.recorder.artifact(self.run_id, name, path, size)
        self.artifacts.extend(artifacts)


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task and task.cancelling())


def _in_order(steps: list[schema.Step]) -> list[schema.Step]:
    """Steps with `parallel:` blocks opened; lockgate runs a block's steps one after another."""
    flat: list[schema.Step] = []
    for step in steps:
        flat.extend(_in_order(step.parallel) if step.parallel is not None else [step])
    return flat
