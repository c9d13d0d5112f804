"""JavaScript actions: `runs.pre`, `runs.main` and `runs.post` on the Node.js major their
`runs.using` names, sharing the action's GITHUB_STATE."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

from ...actions.node import NodeToolchains, NodeUnavailable, node_version
from ...actions.resolve import LocalAction
from ...workflow.expressions import to_string, truthy
from ...workflow.template import render_condition
from ..state import StepRun
from .base import JobHost, PostStep, Scope, StepCall, StepFailed
from .inputs import action_inputs, given_inputs


class JavaScriptAction:
    def __init__(self, action: LocalAction) -> None:
        self.action = action
        self.state: dict[str, str] = {}  # its GITHUB_STATE, from pre to main to post
        self.node = ""
        self.env: dict[str, str] = {}  # the step's env and the action's INPUT_ variables
        self.inner = Scope()

    async def pre(self, job: JobHost, call: StepCall) -> bool:
        runs, scope = self.action.manifest.runs, call.scope
        self.node = await asyncio.to_thread(node_for, job, self.action, runs.using)
        env = job.step_env(call.step.env, scope)
        inputs: dict[str, Any] = action_inputs(
            job, self.action.manifest, given_inputs(job, call, env), scope
        )
        self.inner = Scope(
            inputs=inputs,
            action_path=self.action.directory,
            depth=scope.depth + 1,
            uses=self.action.shown,
        )
        inputs_env = {
            f"INPUT_{k.replace(' ', '_').upper()}": to_string(v) for k, v in inputs.items()
        }
        self.env = {**env, **inputs_env}
        if not runs.pre:
            return True
        if not truthy(render_condition(runs.pre_if or "always()", job.evaluator(scope))):
            return True
        return await self.phase(job, runs.pre, call.record)

    async def main(self, job: JobHost, call: StepCall) -> bool:
        if not self.action.manifest.runs.main:
            raise StepFailed(f"{self.action.shown}: runs.main is missing")
        return await self.phase(job, self.action.manifest.runs.main, call.record)

    def posts(self, job: JobHost, call: StepCall) -> list[PostStep]:
        runs = self.action.manifest.runs
        if not runs.post:
            return []
        script = runs.post

        async def post(record: StepRun) -> bool:
            return await self.phase(job, script, record)

        return [PostStep(f"Post {call.record.name}", runs.post_if or "always()", post)]

    async def phase(self, job: JobHost, script: str, record: StepRun) -> bool:
        job.state = self.state
        env = {**self.env, **{f"STATE_{k}": v for k, v in self.state.items()}}
        argv = [self.node, str(self.action.directory / script)]
        return await job.spawn(argv, env, job.workspace, record, self.inner) == 0


def node_for(job: JobHost, action: LocalAction, using: str) -> str:
    """The node binary of the major `runs.using` names: the host's when it is that major,
    else one from lockgate's tool cache; never another major."""
    major = re.fullmatch(r"node(\d+)", using.strip().lower())
    if major is None:
        raise StepFailed(f"{action.shown}: unknown runs.using {using!r} (node16, node20...)")
    host = shutil.which("node")
    if host and node_version(Path(host).parent).startswith(f"v{major.group(1)}."):
        return host
    try:
        _, bin_dir = NodeToolchains(job.run.options.offline).bin_dir(major.group(1))
    except NodeUnavailable as exc:
        raise StepFailed(f"{action.shown} runs on {using}: {exc}") from None
    return str(bin_dir / "node")
