"""`run:` steps: the script written to a file and run by the step's shell."""

from __future__ import annotations

import uuid

from ..shells import command_line, default_shell, script_suffix
from .base import JobHost, MainOnly, StepCall, StepFailed


class RunScript(MainOnly):
    async def main(self, job: JobHost, call: StepCall) -> bool:
        step, scope = call.step, call.scope
        assert step.run is not None
        env = job.step_env(step.env, scope)
        script = job.render_text(step.run, scope, env)
        defaults = job.defaults()
        shell = step.shell or (None if scope.depth else defaults.shell)
        if scope.depth and not shell:
            raise StepFailed("a `run:` step in a composite action needs `shell:`")
        shell = job.render_text(shell, scope) if shell else default_shell()
        workdir = step.working_directory or (None if scope.depth else defaults.working_directory)
        cwd = job.workspace / job.render_text(workdir, scope) if workdir else job.workspace
        if not cwd.is_dir():
            raise StepFailed(f"working-directory {cwd} does not exist")
        path = job.temp / f"{uuid.uuid4().hex}{script_suffix(shell)}"
        path.write_text(script if script.endswith("\n") else script + "\n")
        return await job.spawn(command_line(shell, str(path)), env, cwd, call.record, scope) == 0
