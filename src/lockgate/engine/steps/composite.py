"""Composite actions: their steps run in a scope of their own, as the job's steps do."""

from __future__ import annotations

from ...actions.resolve import LocalAction
from ...workflow.expressions import to_string
from ...workflow.template import render
from .base import MAX_ACTION_DEPTH, JobHost, MainOnly, Scope, StepCall, StepFailed
from .inputs import action_inputs, given_inputs


class CompositeAction(MainOnly):
    def __init__(self, action: LocalAction) -> None:
        self.action = action

    async def main(self, job: JobHost, call: StepCall) -> bool:
        scope, manifest = call.scope, self.action.manifest
        env = job.step_env(call.step.env, scope)
        inputs = action_inputs(job, manifest, given_inputs(job, call, env), scope)
        if scope.depth >= MAX_ACTION_DEPTH:
            raise StepFailed(f"composite actions nest deeper than {MAX_ACTION_DEPTH} levels")
        callers = {k: v for k, v in env.items() if job.env.get(k) != v}
        inner = Scope(
            inputs=inputs,
            action_path=self.action.directory,
            depth=scope.depth + 1,
            env=callers,
            uses=self.action.shown,
        )
        ok = await job.run_steps(list(manifest.runs.steps), inner)
        evaluate = job.evaluator(inner)
        for name, output in manifest.outputs.items():
            if output.value is not None:
                call.record.outputs[name] = to_string(render(output.value, evaluate))
        return ok
