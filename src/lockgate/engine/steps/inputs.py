"""An action's inputs: the step's `with:`, and the defaults its manifest declares."""

from __future__ import annotations

from typing import Any

from ...actions.manifest import Manifest
from ...workflow.expressions import to_string
from ...workflow.template import inserted, is_insert
from .base import JobHost, Scope, StepCall


def given_inputs(job: JobHost, call: StepCall, env: dict[str, str]) -> dict[str, str]:
    """The step's `with:`, rendered (`${{ insert }}` merged in)."""
    given: dict[str, str] = {}
    for key, value in call.step.with_.items():
        if is_insert(key):
            merged = inserted(job.render(value, call.scope, env))
            given.update({k: to_string(v) for k, v in merged.items() if v is not None})
        elif value is not None:
            given[key] = job.render_text(value, call.scope, env)
    return given


def action_inputs(
    job: JobHost, manifest: Manifest, given: dict[str, str], scope: Scope
) -> dict[str, Any]:
    """Every input the action declares (given, else its default, else empty), plus any
    undeclared ones given."""
    inputs: dict[str, Any] = {}
    # A default may refer to other inputs (`default: ${{ inputs.some }}`), as on GitHub.
    given_scope = Scope(inputs=dict(given), action_path=scope.action_path, env=scope.env)
    for name, spec in manifest.inputs.items():
        if name in given:
            inputs[name] = given[name]
        elif spec.default is not None:
            inputs[name] = job.render_text(spec.default, given_scope)
        else:
            inputs[name] = ""
    for name in given:
        inputs.setdefault(name, given[name])
    return inputs
