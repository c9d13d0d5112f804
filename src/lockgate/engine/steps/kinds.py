"""Which kind of step a step is: a `run:` script, or the kind of action its `uses:` names."""

from __future__ import annotations

from ...actions.remote import RemoteActions
from ...actions.resolve import Builtin, UnresolvedAction, resolve
from .base import JobHost, Step, StepCall, StepFailed
from .builtin import BuiltinStep
from .composite import CompositeAction
from .javascript import JavaScriptAction
from .script import RunScript


def step_kind(job: JobHost, call: StepCall) -> Step:
    """A `run:` script, or the action `uses:` names: built-in, composite or JavaScript."""
    uses = call.step.uses
    if not uses:
        return RunScript()
    options = job.run.options
    try:
        remote = RemoteActions(options.github_url, options.offline)
        action = resolve(uses, job.workspace, options.repo_dir, options.action_paths, remote)
    except UnresolvedAction as exc:
        raise StepFailed(str(exc)) from None
    if isinstance(action, Builtin):
        return BuiltinStep(action)
    kind = action.manifest.kind
    if kind == "composite":
        return CompositeAction(action)
    if kind == "node":
        return JavaScriptAction(action)
    raise StepFailed(
        f"{uses} is a {action.manifest.runs.using!r} action, which needs a container engine; "
        "none is available on this runner"
    )
