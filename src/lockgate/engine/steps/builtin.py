"""Built-in actions (checkout, cache, artifacts, setup-*): Python functions run in a worker
thread, with what they set folded back into the job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ...actions.builtin import ActionFailed, BuiltinContext
from ...actions.contracts import CONTRACTS, input_notes
from ...actions.resolve import Builtin
from ...workflow.expressions import to_string
from ..state import Annotation, StepRun
from .base import JobHost, PostStep, StepCall
from .inputs import given_inputs


class BuiltinStep:
    def __init__(self, action: Builtin) -> None:
        self.action = action
        self.hooks: list[Callable[[bool], None]] = []  # its post steps (cache saves)

    async def pre(self, job: JobHost, call: StepCall) -> bool:
        return True

    async def main(self, job: JobHost, call: StepCall) -> bool:
        record, loop = call.record, asyncio.get_running_loop()

        def log_from_thread(line: str) -> None:
            loop.call_soon_threadsafe(job.log, record, line)

        github, step_env = job.evaluator(call.scope), job.step_env(call.step.env, call.scope)
        ctx = BuiltinContext(
            workspace=job.workspace,
            snapshot=job.snapshot,
            inputs=given_inputs(job, call, step_env),
            step_env=step_env,
            repository=to_string(github("github.repository")),
            sha=to_string(github("github.sha")),
            ref=to_string(github("github.ref")),
            state_dir=job.run.state_dir,
            run_id=job.run_id,
            temp=job.temp,
            # Built-ins run in a worker thread; their log lines go back through the loop.
            log=log_from_thread,
            offline=job.run.options.offline,
            mask=job.run.masker,
        )
        contract = CONTRACTS[self.action.name]
        for said in input_notes(contract, ctx.inputs, lambda t: job.render_text(t, call.scope)):
            job.log(record, said)
        try:
            await asyncio.to_thread(self.action.run, ctx)
        except ActionFailed as exc:
            job.log(record, f"::error::{self.action.name}: {exc}")
            job.annotate(Annotation("error", f"{self.action.name}: {exc}"))
            return False
        finally:
            job.artifacts_uploaded(ctx.artifacts)
        record.outputs.update(ctx.outputs)
        job.env.update(ctx.env)
        job.paths[:0] = reversed(ctx.paths)
        self.hooks = list(ctx.post)
        return True

    def posts(self, job: JobHost, call: StepCall) -> list[PostStep]:
        def make(hook: Callable[[bool], None]) -> PostStep:
            async def post(_: StepRun) -> bool:
                await asyncio.to_thread(hook, not job.failed)
                return True

            return PostStep(f"Post {call.record.name}", "always()", post)

        return [make(hook) for hook in self.hooks]
