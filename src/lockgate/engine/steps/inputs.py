"""An action's inputs: the step's `with:`, and the defaults its manifest declares."""

from __future__ import annotations

from typing import Any

from ...actions.manifest import Manifest
from .base import JobHost, Scope, StepCall


def given_inputs(job: JobHost, call: StepCall, env: dict[str, str]) -> dict[str, str]:
    """The step's `with:`, rendered."""
    return {
        k: job.render_text(v, call.scope, env) for k, v in call.step.with_.items() if v is not None
    }


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
