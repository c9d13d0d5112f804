"""One job on the local runner: its steps, their environment files, commands and results."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..actions.builtin import ActionFailed, BuiltinContext
from ..actions.manifest import Manifest
from ..actions.node import NodeToolchains, NodeUnavailable, node_version
from ..actions.remote import RemoteActions
from ..actions.resolve import Builtin, LocalAction, UnresolvedAction, resolve
from ..common.errors import UserError
from ..store.testresults import TestRecords, TestResult
from ..workflow import schema
from ..workflow.expressions import ExpressionError, Value, evaluate, to_string, truthy
from ..workflow.template import render, render_condition
from . import testreports
from .commands import parse_command
from .context import ARCH, RunContext, hash_files, host_env
from .envfiles import EnvFileError, parse_env_file, read_path_file
from .leftovers import run_marker
from .process import ProcessGroups, stream_process
from .shells import command_line, default_shell, script_suffix
from .state import Annotation, FinishedJob, JobRun, StepRun

MAX_ACTION_DEPTH = 9
COMMAND_FILES = (
    "GITHUB_ENV",
    "GITHUB_OUTPUT",
    "GITHUB_PATH",
    "GITHUB_STATE",
    "GITHUB_STEP_SUMMARY",
)
ANNOTATION_LEVELS = {"error", "warning", "notice"}
LOG_FLUSH_LINES, LOG_FLUSH_SECONDS = 500, 0.25  # live pages see a line within 0.25 s


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


@dataclass
class PostStep:
    name: str
    condition: str
    run: Callable[[StepRun], Any]


class JobExecutor:
    def __init__(
        self,
        run: RunContext,
        job: JobRun,
        spec: schema.Job,
        workflow: schema.Workflow,
        base_contexts: dict[str, Value],
        run_dir: Path,
        run_id: int,
        snapshot: Path | None,
    ) -> None:
        self.run = run
        self.job = job
        self.spec = spec
        self.workflow = workflow
        self.base = base_contexts  # github, needs, strategy, matrix, inputs, vars, secrets
        self.run_id = run_id
        self.snapshot = snapshot
        self.dir = run_dir / "jobs" / str(job.row)
        self.temp = self.dir / "temp"
        self.files = self.dir / "files"
        self.workspace = run.options.repo_dir if snapshot is None else self.dir / "workspace"
        self.groups = ProcessGroups()
        self.env: dict[str, str] = {}  # workflow + job env, then GITHUB_ENV additions
        self.paths: list[str] = []  # GITHUB_PATH additions, newest first
        self.failed = False
        self.cancel_requested = False
        self.timed_out = False
        self.posts: list[PostStep] = []
        self.log_buffer: list[tuple[int, int, float, str]] = []
        self.flush_timer: asyncio.TimerHandle | None = None
        self.current: asyncio.Future[bool] | None = None
        self.step_counter = 0
        self.step_rows: dict[int, int] = {}  # step number -> store row
        self.scope = Scope()  # the job's own `steps` context
        self.state: dict[str, str] = {}  # GITHUB_STATE of the action running now
        self.files_ready = False
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
        for d in (self.temp, self.files, self.workspace):
            d.mkdir(parents=True, exist_ok=True)
        job.status, job.started = "running", time.time()
        self.run.store.update_job(job.row, status="running", started_at=job.started)
        self.run.observer.job_updated(job)
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
            self.flush_logs()
        if self.timed_out:
            job.conclusion = "failure"
        elif self.cancel_requested:
            job.conclusion = "cancelled"
        else:
            job.conclusion = "failure" if self.failed else "success"
        with contextlib.suppress(ExpressionError, StepFailed):
            job.outputs = self.job_outputs()
        job.status, job.finished = "completed", time.time()
        self.run.store.update_job(
            job.row,
            status="completed",
            conclusion=job.conclusion,
            finished_at=job.finished,
            outputs=job.outputs,
            message=job.message or None,
            summary=job.summary or None,
        )
        self.run.observer.job_updated(job)
        if on_success is not None and job.conclusion == "success" and not self.run.cancelled:
            await on_success(FinishedJob(job, self.run_id, self.workspace, self.artifacts))
        if self.snapshot is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- contexts and expressions --------------------------------------------------------
    def status_functions(self) -> dict[str, tuple[int, int, Callable[..., Value]]]:
        return {
            "success": (0, 0, lambda: not self.failed and not self.cancel_requested),
            "failure": (0, 0, lambda: self.failed),
            "cancelled": (0, 0, lambda: self.cancel_requested),
            "always": (0, 0, lambda: True),
            "hashfiles": (1, 255, lambda *p: hash_files(self.workspace, tuple(map(to_string, p)))),
        }

    def contexts(self, scope: Scope, env: Mapping[str, str] | None = None) -> dict[str, Value]:
        github = dict(self.base["github"])
        github["workspace"] = str(self.workspace)
        if scope.action_path is not None:
            github["action_path"] = str(scope.action_path)
        ctx: dict[str, Value] = {
            **self.base,
            "github": github,
            "env": {**self.env, **scope.env} if env is None else dict(env),
            "job": {"status": self.job_status(), "container": {"network": ""}, "services": {}},
            "steps": scope.steps,
            "runner": {
                "name": "lockgate-local",
                "os": "Linux",
                "arch": ARCH,
                "temp": str(self.temp),
                "tool_cache": str(self.run.state_dir / "toolcache"),
                "debug": "",
                "environment": "self-hosted",
            },
        }
        if scope.inputs is not None:
            ctx["inputs"] = scope.inputs
        return ctx

    def job_status(self) -> str:
        if self.cancel_requested:
            return "cancelled"
        return "failure" if self.failed else "success"

    def evaluator(
        self, scope: Scope, env: Mapping[str, str] | None = None
    ) -> Callable[[str], Value]:
        ctx = self.contexts(scope, env)
        functions = self.status_functions()
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
            for key, value in source.items():
                env[key] = self.render_text(value, Scope(), env) if value is not None else ""
        return env

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

    # -- steps ------------------------------------------------------------------------------
    async def run_steps(self, steps: list[schema.Step], scope: Scope) -> bool:
        """Run steps in order; False when one of them failed (without continue-on-error)."""
        failed_here = False
        for index, step in enumerate(_in_order(steps)):
            record = self.new_step(self.step_name(step, index, scope))
            self.run.observer.step_updated(self.job, record)
            try:
                condition = render_condition(step.if_, self.evaluator(scope))
            except ExpressionError as exc:
                self.log(record, f"::error::the `if` of this step is invalid: {exc.message}")
                condition = None
                self.finish_step(record, "failure", "failure", None)
                self.failed = failed_here = True
                continue
            if not truthy(condition):
                self.finish_step(record, "skipped", "skipped", None, status="skipped")
                self.remember(scope, step, record)
                continue
            outcome = await self.run_one(step, scope, record)
            tests = self.collect_tests(record, outcome, {})
            retries = self.run.project.rules(self.job.job_id).retry if step.run else 0
            first, attempt, failed_before = record.name, 1, dict[str, int]()
            while outcome == "failure" and tests.failed and retries and not self.cancel_requested:
                retries, attempt = retries - 1, attempt + 1
                for test in tests.failed:
                    failed_before[test] = failed_before.get(test, 0) + 1
                said = f"{len(tests.failed)} tests failed: running the step again"
                self.annotate(Annotation("warning", said), record)
                self.finish_step(record, outcome, "success", record.outputs)  # not the last word
                record = self.new_step(f"{first} (attempt {attempt})")
                outcome = await self.run_one(step, scope, record)
                tests = self.collect_tests(record, outcome, failed_before)
            continue_on_error = truthy(self.render(step.continue_on_error, scope))
            conclusion = "success" if outcome == "failure" and continue_on_error else outcome
            if tests.excused:
                conclusion = "success"  # only quarantined tests failed
            if conclusion == "failure":
                self.failed = failed_here = True
            self.finish_step(record, outcome, conclusion, record.outputs)
            self.remember(scope, step, record)
        return not failed_here

    def collect_tests(
        self, record: StepRun, outcome: str, failed_before: Mapping[str, int]
    ) -> testreports.StepTests:
        """The JUnit reports the step wrote, stored per test (messages masked; a test that
        failed in earlier attempts of the step carries them as retries) and summed up in the
        job summary: which tests failed, and whether quarantines excuse the step's failure."""
        settings = self.run.project.tests
        since = record.started or 0.0  # (set when the step began)
        cases, unreadable = testreports.read(self.workspace, since, settings.reports)
        for text in unreadable:
            self.annotate(Annotation("warning", text), record)
        if not cases:
            return testreports.StepTests((), False)
        now = time.time()
        records = TestRecords(self.run.store)
        failing = {c.id for c in testreports.failed(cases)}
        found = [
            TestResult(
                run_id=self.run_id,
                job_row=self.job.row,
                job_id=self.job.job_id,
                tree=self.job.cache_key,
                test=case.id,
                file=case.file,
                outcome=case.outcome.value,
                duration=case.duration,
                retries=case.retries + failed_before.get(case.id, 0),
                quarantined=False,
                message=self.run.masker(case.message) if case.message else None,
                at=now,
            )
            for case in cases
        ]
        held = {q.test: q for q in records.quarantines() if q.active(now)}
        policy, judged = settings.quarantine, sorted(failing - set(held))
        if policy is not None and judged:  # proven flaky now: quarantined before it is judged
            history = records.of_tests(judged, now - testreports.POLICY_DAYS * 86400)
            mine = [r for r in found if r.test in judged]
            for entry in testreports.by_policy([*history, *mine], policy, now):
                records.quarantine(entry)
                held[entry.test] = entry
                self.annotate(Annotation("warning", f"quarantined {entry.test}: {entry.reason}"))
        excuses = testreports.excused(cases, held) if outcome == "failure" else []
        records.add(
            [dataclasses.replace(r, quarantined=r.test in held and r.failed) for r in found]
        )
        self.job.summary += self.run.masker(testreports.summary(cases, held, record.name))
        if settings.test_budget is not None:  # per-test budgets warn, never fail
            limit = float(settings.test_budget)
            for case in (c for c in cases if c.duration > limit):
                said = f"{case.id} took {case.duration:.1f}s, over the test budget of {limit:g}s"
                self.annotate(Annotation("warning", said), record)
        if excuses:
            names = ", ".join(sorted({q.test for q in excuses}))
            self.annotate(
                Annotation("warning", f"passed with quarantined failures: {names}"), record
            )
        return testreports.StepTests(tuple(sorted(failing)), bool(excuses))

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

    def new_step(self, name: str) -> StepRun:
        name = self.run.masker(name)
        self.step_counter += 1
        record = StepRun(self.step_counter, name, status="running", started=time.time())
        self.job.steps.append(record)
        self.step_rows[record.number] = self.run.store.create_step(
            self.job.row, record.number, name
        )
        return record

    def finish_step(
        self,
        record: StepRun,
        outcome: str,
        conclusion: str,
        outputs: dict[str, str] | None,
        status: str = "completed",
    ) -> None:
        record.status, record.outcome, record.conclusion = status, outcome, conclusion
        record.finished = time.time()
        if self.flush_timer is not None:
            self.flush_timer.cancel()
            self.flush_timer = None
        logs, self.log_buffer = self.log_buffer, []
        self.run.store.finish_step(
            self.step_rows[record.number],
            logs,
            status=status,
            outcome=outcome,
            conclusion=conclusion,
            finished_at=record.finished,
            # Stored (and cached) masked; the steps context in memory keeps the values.
            outputs={k: self.run.masker(v) for k, v in outputs.items()} if outputs else None,
        )
        self.run.observer.step_updated(self.job, record)

    async def run_one(self, step: schema.Step, scope: Scope, record: StepRun) -> str:
        timeout = None
        if step.timeout_minutes is not None:
            timeout = self.minutes(self.render(step.timeout_minutes, scope), "timeout-minutes") * 60
        work = (
            self.run_uses(step, scope, record)
            if step.uses
            else self.run_script(step, scope, record)
        )
        self.current = asyncio.ensure_future(work)
        try:
            async with asyncio.timeout(timeout):
                ok = await self.current
        except TimeoutError:
            self.log(
                record,
                f"::error::the step exceeded its timeout-minutes "
                f"({timeout / 60 if timeout else 0:g} min) and was stopped",
            )
            return "failure"
        except asyncio.CancelledError:
            if self.cancel_requested and not self.current_task_cancelling():
                self.log(record, "the step was cancelled")
                return "cancelled"
            raise
        except (StepFailed, UserError, EnvFileError) as exc:
            self.log(record, f"::error::{exc}")
            return "failure"
        except ExpressionError as exc:
            self.log(record, f"::error::{exc.message}")
            return "failure"
        finally:
            self.current = None
        return "success" if ok else "failure"

    @staticmethod
    def current_task_cancelling() -> bool:
        task = asyncio.current_task()
        return bool(task and task.cancelling())

    # -- run: steps ------------------------------------------------------------------------
    def step_env(
        self, step_env: Any, scope: Scope, extra: Mapping[str, str] = {}
    ) -> dict[str, str]:
        env = {**self.env, **scope.env}
        if isinstance(step_env, str):
            rendered = self.render(step_env, scope, env)
            step_env = rendered if isinstance(rendered, dict) else {}
        for key, value in step_env.items():
            env[key] = self.render_text(value, scope, env) if value is not None else ""
        env.update(extra)
        return env

    def defaults(self) -> schema.RunDefaults:
        job, wf = self.spec.defaults.run, self.workflow.defaults.run
        return schema.RunDefaults(
            shell=job.shell or wf.shell,
            working_directory=job.working_directory or wf.working_directory,
        )

    async def run_script(self, step: schema.Step, scope: Scope, record: StepRun) -> bool:
        assert step.run is not None
        env = self.step_env(step.env, scope)
        script = self.render_text(step.run, scope, env)
        defaults = self.defaults()
        shell = step.shell or (None if scope.depth else defaults.shell)
        if scope.depth and not shell:
            raise StepFailed("a `run:` step in a composite action needs `shell:`")
        shell = self.render_text(shell, scope) if shell else default_shell()
        workdir = step.working_directory or (None if scope.depth else defaults.working_directory)
        cwd = self.workspace / self.render_text(workdir, scope) if workdir else self.workspace
        if not cwd.is_dir():
            raise StepFailed(f"working-directory {cwd} does not exist")
        path = self.temp / f"{uuid.uuid4().hex}{script_suffix(shell)}"
        path.write_text(script if script.endswith("\n") else script + "\n")
        argv = command_line(shell, str(path))
        return await self.spawn(argv, env, cwd, record, scope) == 0

    async def spawn(
        self,
        argv: list[str],
        env: Mapping[str, str],
        cwd: Path,
        record: StepRun,
        scope: Scope,
    ) -> int:
        """Run a process with the job's command files; fold GITHUB_ENV/OUTPUT/PATH/STATE back in."""
        files = self.command_files()
        full_env = self.process_env(env, scope, files)
        # As on GitHub, the step's env can re-enable the old set-env / add-path commands.
        state = _LineState(full_env.get("ACTIONS_ALLOW_UNSECURE_COMMANDS", "").lower() == "true")
        code = await stream_process(
            argv,
            env=full_env,
            cwd=cwd,
            groups=self.groups,
            grace=self.run.options.kill_grace,
            on_line=lambda line: self.handle_line(record, line, state),
            cut=self.run.masker.safe_cut,
        )
        self.absorb_files(files, record)
        return code

    def process_env(
        self, env: Mapping[str, str], scope: Scope, files: Mapping[str, Path]
    ) -> dict[str, str]:
        github = self.base["github"]
        assert isinstance(github, dict)
        full = host_env()
        full.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_WORKSPACE": str(self.workspace),
                "GITHUB_SHA": github["sha"],
                "GITHUB_REF": github["ref"],
                "GITHUB_REF_NAME": github["ref_name"],
                "GITHUB_REF_TYPE": github["ref_type"],
                "GITHUB_REPOSITORY": github["repository"],
                "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
                "GITHUB_ACTOR": github["actor"],
                "GITHUB_TRIGGERING_ACTOR": github["actor"],
                "GITHUB_EVENT_NAME": github["event_name"],
                "GITHUB_EVENT_PATH": str(self.event_path()),
                "GITHUB_JOB": self.job.job_id,
                "GITHUB_RUN_ID": github["run_id"],
                "GITHUB_RUN_NUMBER": github["run_number"],
                "GITHUB_RUN_ATTEMPT": "1",
                "GITHUB_WORKFLOW": github["workflow"],
                "GITHUB_WORKFLOW_REF": github["workflow_ref"],
                "GITHUB_SERVER_URL": github["server_url"],
                "GITHUB_API_URL": github["api_url"],
                "GITHUB_GRAPHQL_URL": github["graphql_url"],
                "GITHUB_HEAD_REF": "",
                "GITHUB_BASE_REF": "",
                "GITHUB_RETENTION_DAYS": "90",
                "GITHUB_ACTION": f"__run_{self.step_counter}",
                "RUNNER_OS": "Linux",
                "RUNNER_ARCH": ARCH,
                "RUNNER_NAME": "lockgate-local",
                "RUNNER_ENVIRONMENT": "self-hosted",
                "RUNNER_TEMP": str(self.temp),
                "RUNNER_TOOL_CACHE": str(self.run.state_dir / "toolcache"),
            }
        )
        if scope.action_path is not None:
            full["GITHUB_ACTION_PATH"] = str(scope.action_path)
            remote = "" if scope.uses.startswith("./") else scope.uses
            repository, _, ref = remote.partition("@")
            full["GITHUB_ACTION_REPOSITORY"] = "/".join(repository.split("/")[:2])
            full["GITHUB_ACTION_REF"] = ref
        full.update({name: str(path) for name, path in files.items()})
        full.update(env)
        for marker in (self.groups.marker, run_marker(self.run.options.repo_dir, self.run_id)):
            name, _, value = marker.partition("=")
            full[name] = value
        full["PATH"] = os.pathsep.join([*self.paths, env.get("PATH", full.get("PATH", ""))])
        return full

    def event_path(self) -> Path:
        path = self.dir / "event.json"
        if not path.exists():
            import json

            path.write_text(json.dumps(self.run.options.event_payload))
        return path

    def command_files(self) -> dict[str, Path]:
        """The job's GITHUB_ENV, ... files: created once, emptied after each step reads them.

        Creating five files per step costs more than running a trivial step.
        """
        files = {name: self.files / name.lower() for name in COMMAND_FILES}
        if not self.files_ready:
            for path in files.values():
                path.touch()
            self.files_ready = True
        return files

    @staticmethod
    def take(path: Path) -> Path | None:
        """The file when a step wrote to it (then emptied for the next step), else None."""
        if path.stat().st_size == 0:
            return None
        taken = path.with_suffix(".taken")
        path.replace(taken)
        path.touch()
        return taken

    def absorb_files(self, files: Mapping[str, Path], record: StepRun) -> None:
        taken = {name: self.take(path) for name, path in files.items()}
        if env_file := taken["GITHUB_ENV"]:
            self.env.update(parse_env_file(env_file))
        if path_file := taken["GITHUB_PATH"]:
            self.paths = list(reversed(read_path_file(path_file))) + self.paths
        if output_file := taken["GITHUB_OUTPUT"]:
            record.outputs.update(parse_env_file(output_file))
        if state_file := taken["GITHUB_STATE"]:
            self.state.update(parse_env_file(state_file))
        summary_file = taken["GITHUB_STEP_SUMMARY"]
        summary = summary_file.read_text(encoding="utf-8", errors="replace") if summary_file else ""
        if summary.strip():
            self.job.summary += self.run.masker(
                summary if summary.endswith("\n") else summary + "\n"
            )

    # -- output lines and workflow commands --------------------------------------------------
    def handle_line(self, record: StepRun, line: str, state: _LineState) -> None:
        if state.stop_token is not None:
            if line == f"::{state.stop_token}::":
                state.stop_token = None
                return
            self.log(record, line)
            return
        command = parse_command(line)
        if command is None:
            self.log(record, line)
            return
        name, props, message = command.name, command.properties, command.message
        if name == "add-mask":
            self.run.masker.add(message)
        elif name in ANNOTATION_LEVELS:
            self.annotate(
                Annotation(
                    name,
                    self.run.masker(message),
                    props.get("file"),
                    _int(props.get("line")),
                    _int(props.get("col")),
                    props.get("title"),
                ),
                record,
            )
        elif name == "group":
            self.log(record, f"▸ {message}")
        elif name == "endgroup":
            pass
        elif name == "stop-commands":
            state.stop_token = message
        elif name == "set-output":
            record.outputs[props.get("name", "")] = message
            self.log(
                record,
                "warning: the `set-output` command is deprecated; write to $GITHUB_OUTPUT instead",
            )
        elif name == "save-state":
            self.state[props.get("name", "")] = message
        elif name == "debug":
            if self.run.options.secrets.get("ACTIONS_STEP_DEBUG") == "true":
                self.log(record, f"##[debug]{message}")
        elif name in ("set-env", "add-path") and state.unsecure:
            if name == "set-env" and props.get("name"):
                self.env[props["name"]] = message
            elif name == "add-path" and message:
                self.paths.insert(0, message)
        elif name in ("set-env", "add-path"):
            self.annotate(
                Annotation(
                    "error",
                    f"the `{name}` command is disabled; use $GITHUB_ENV / $GITHUB_PATH (or set "
                    "ACTIONS_ALLOW_UNSECURE_COMMANDS: true in the step's env)",
                ),
                record,
            )
        else:
            self.log(record, line)

    def log(self, record: StepRun, line: str) -> None:
        masked = self.run.masker(line)
        self.log_buffer.append((self.job.row, record.number, time.time(), masked))
        self.run.observer.log(self.job, record, masked)
        if len(self.log_buffer) >= LOG_FLUSH_LINES:
            self.flush_logs()
        elif self.flush_timer is None:
            # A quiet step's last lines still reach the store within a second.
            loop = asyncio.get_running_loop()
            self.flush_timer = loop.call_later(LOG_FLUSH_SECONDS, self.flush_logs)

    def take_logs(self) -> list[tuple[int, int, float, str]]:
        if self.flush_timer is not None:
            self.flush_timer.cancel()
            self.flush_timer = None
        logs, self.log_buffer = self.log_buffer, []
        return logs

    def flush_logs(self) -> None:
        logs = self.take_logs()
        if logs:
            self.run.store.add_logs(logs)

    def annotate(self, annotation: Annotation, record: StepRun | None = None) -> None:
        mask = self.run.masker
        annotation = Annotation(
            annotation.level,
            mask(annotation.message),
            mask(annotation.file) if annotation.file else annotation.file,
            annotation.line,
            annotation.col,
            mask(annotation.title) if annotation.title else annotation.title,
        )
        number = record.number if record else 0
        self.run.store.add_annotation(
            self.job.row,
            number,
            level=annotation.level,
            message=annotation.message,
            file=annotation.file,
            line=annotation.line,
            col=annotation.col,
            title=annotation.title,
        )
        self.run.observer.annotation(self.job, annotation)
        if record is not None:
            where = f" {annotation.file}:{annotation.line or ''}" if annotation.file else ""
            self.log(record, f"{annotation.level}{where}: {annotation.message}")

    # -- uses: steps ---------------------------------------------------------------------------
    async def run_uses(self, step: schema.Step, scope: Scope, record: StepRun) -> bool:
        assert step.uses is not None
        try:
            options = self.run.options
            remote = RemoteActions(options.github_url, options.offline)
            action = resolve(
                step.uses, self.workspace, options.repo_dir, options.action_paths, remote
            )
        except UnresolvedAction as exc:
            raise StepFailed(str(exc)) from None
        env = self.step_env(step.env, scope)
        given = {k: self.render_text(v, scope, env) for k, v in step.with_.items() if v is not None}
        if isinstance(action, Builtin):
            return await self.run_builtin(action, given, record)
        manifest = action.manifest
        inputs = self.action_inputs(manifest, given, scope)
        if manifest.kind == "composite":
            if scope.depth >= MAX_ACTION_DEPTH:
                raise StepFailed(f"composite actions nest deeper than {MAX_ACTION_DEPTH} levels")
            callers = {k: v for k, v in env.items() if self.env.get(k) != v}
            inner = Scope(
                inputs=inputs,
                action_path=action.directory,
                depth=scope.depth + 1,
                env=callers,
                uses=action.shown,
            )
            ok = await self.run_steps(list(manifest.runs.steps), inner)
            ev = self.evaluator(inner)
            for name, output in manifest.outputs.items():
                if output.value is not None:
                    record.outputs[name] = to_string(render(output.value, ev))
            return ok
        if manifest.kind == "node":
            return await self.run_node(action, manifest, inputs, env, scope, record)
        raise StepFailed(
            f"{step.uses} is a {manifest.runs.using!r} action, which needs a container engine; "
            "none is available on this runner"
        )

    def action_inputs(
        self, manifest: Manifest, given: dict[str, str], scope: Scope
    ) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        # A default may refer to other inputs (`default: ${{ inputs.some }}`), as on GitHub.
        given_scope = Scope(inputs=dict(given), action_path=scope.action_path, env=scope.env)
        for name, spec in manifest.inputs.items():
            if name in given:
                inputs[name] = given[name]
            elif spec.default is not None:
                inputs[name] = self.render_text(spec.default, given_scope)
            else:
                inputs[name] = ""
        for name in given:
            inputs.setdefault(name, given[name])
        return inputs

    def node_for(self, action: LocalAction, using: str) -> str:
        """The node binary of the major `runs.using` names: the host's when it is that major,
        else one from lockgate's tool cache; never another major."""
        major = re.fullmatch(r"node(\d+)", using.strip().lower())
        if major is None:
            raise StepFailed(f"{action.shown}: unknown runs.using {using!r} (node16, node20...)")
        host = shutil.which("node")
        if host and node_version(Path(host).parent).startswith(f"v{major.group(1)}."):
            return host
        try:
            _, bin_dir = NodeToolchains(self.run.options.offline).bin_dir(major.group(1))
        except NodeUnavailable as exc:
            raise StepFailed(f"{action.shown} runs on {using}: {exc}") from None
        return str(bin_dir / "node")

    async def run_node(
        self,
        action: LocalAction,
        manifest: Manifest,
        inputs: dict[str, Any],
        env: dict[str, str],
        scope: Scope,
        record: StepRun,
    ) -> bool:
        node = await asyncio.to_thread(self.node_for, action, manifest.runs.using)
        inner = Scope(
            inputs=inputs, action_path=action.directory, depth=scope.depth + 1, uses=action.shown
        )
        input_env = {
            f"INPUT_{k.replace(' ', '_').upper()}": to_string(v) for k, v in inputs.items()
        }
        state: dict[str, str] = {}

        async def phase(script: str, target: StepRun) -> bool:
            self.state = state
            env_with = {**env, **input_env, **{f"STATE_{k}": v for k, v in state.items()}}
            code = await self.spawn(
                [node, str(action.directory / script)],
                env_with,
                self.workspace,
                target,
                inner,
            )
            return code == 0

        runs = manifest.runs
        pre_wanted = runs.pre and truthy(
            render_condition(runs.pre_if or "always()", self.evaluator(scope))
        )
        if runs.pre and pre_wanted and not await phase(runs.pre, record):
            return False
        if not runs.main:
            raise StepFailed(f"{action.shown}: runs.main is missing")
        ok = await phase(runs.main, record)
        if runs.post:
            post_script = runs.post

            async def post(post_record: StepRun) -> bool:
                return await phase(post_script, post_record)

            self.posts.append(PostStep(f"Post {record.name}", runs.post_if or "always()", post))
        return ok

    async def run_builtin(self, action: Builtin, inputs: dict[str, str], record: StepRun) -> bool:
        loop = asyncio.get_running_loop()

        def log_from_thread(line: str) -> None:
            loop.call_soon_threadsafe(self.log, record, line)

        ctx = BuiltinContext(
            workspace=self.workspace,
            snapshot=self.snapshot,
            inputs=inputs,
            state_dir=self.run.state_dir,
            run_id=self.run_id,
            temp=self.temp,
            # Built-ins run in a worker thread; their log lines go back through the loop.
            log=log_from_thread,
            offline=self.run.options.offline,
            mask=self.run.masker,
        )
        try:
            await asyncio.to_thread(action.run, ctx)
        except ActionFailed as exc:
            self.log(record, f"::error::{action.name}: {exc}")
            self.annotate(Annotation("error", f"{action.name}: {exc}"))
            return False
        finally:
            for name, path, size in ctx.artifacts:
                self.run.store.add_artifact(self.run_id, name, path, size)
            self.artifacts.extend(ctx.artifacts)
        record.outputs.update(ctx.outputs)
        self.env.update(ctx.env)
        self.paths = list(reversed(ctx.paths)) + self.paths
        for hook in ctx.post:

            def make(h: Callable[[bool], None] = hook) -> Callable[[StepRun], Any]:
                async def post(_: StepRun) -> bool:
                    await asyncio.to_thread(h, not self.failed)
                    return True

                return post

            self.posts.append(PostStep(f"Post {record.name}", "always()", make()))
        return True

    async def run_posts(self) -> None:
        for post in reversed(self.posts):
            record = self.new_step(post.name)
            self.run.observer.step_updated(self.job, record)
            if not truthy(render_condition(post.condition, self.evaluator(Scope()))):
                self.finish_step(record, "skipped", "skipped", None, status="skipped")
                continue
            try:
                ok = await post.run(record)
            except (StepFailed, ActionFailed, OSError) as exc:
                self.log(record, f"::error::{exc}")
                ok = False
            outcome = "success" if ok else "failure"
            self.failed = self.failed or not ok
            self.finish_step(record, outcome, outcome, record.outputs)


def _in_order(steps: list[schema.Step]) -> list[schema.Step]:
    """Steps with `parallel:` blocks opened; lockgate runs a block's steps one after another."""
    flat: list[schema.Step] = []
    for step in steps:
        flat.extend(_in_order(step.parallel) if step.parallel is not None else [step])
    return flat


@dataclass
class _LineState:
    unsecure: bool = False  # ACTIONS_ALLOW_UNSECURE_COMMANDS=true
    stop_token: str | None = None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
