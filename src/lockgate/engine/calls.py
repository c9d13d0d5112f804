"""Reusable workflows: the file a job's `uses:` calls, its typed inputs and secrets, and the
outputs it passes back. The orchestrator runs the called workflow's jobs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..actions.remote import RemoteActionError, RemoteActions
from ..common.errors import UserError
from ..workflow import schema
from ..workflow.expressions import ExpressionError, Value, evaluate, to_string
from ..workflow.loader import LoadedWorkflow, load_workflow, local_calls
from ..workflow.template import render
from .state import RunOptions


@dataclass(frozen=True)
class Call:
    """A called workflow, loaded and checked, with the inputs and secrets it is given."""

    workflow: LoadedWorkflow
    inputs: dict[str, Value]
    secrets: dict[str, str]


def prepare_call(
    options: RunOptions,
    caller: LoadedWorkflow,
    job_id: str,
    spec: schema.CallJob,
    evaluate_here: Callable[[Any], Any],
    secrets: dict[str, str],
) -> Call:
    """Load what `jobs.<job_id>.uses` calls (UserError or ExpressionError when it cannot be);
    `evaluate_here` renders a value with the calling job's contexts."""
    uses = spec.uses.strip()
    called = load_workflow(called_file(options, uses), uses, local_calls(options.repo_dir))
    call = called.model.on.workflow_call
    if call is None:
        raise UserError(
            f"{uses} is not a reusable workflow (no `on: workflow_call`)",
            hint="add `on: workflow_call` to the called workflow",
        )
    given = {k: evaluate_here(v) for k, v in spec.with_.items()}
    unknown = [k for k in given if k not in call.inputs]
    if unknown:
        raise UserError(
            f"input {unknown[0]!r} is not declared by {spec.uses}",
            where=caller.where(["jobs", job_id, "with", unknown[0]]),
            hint=f"declared inputs: {', '.join(call.inputs) or 'none'}",
        )
    inputs = typed_inputs(call.inputs, given, f"{caller.display}: jobs.{job_id}.with")
    if spec.secrets == "inherit":
        passed = dict(secrets)
    else:
        passed = {k: to_string(evaluate_here(v)) for k, v in spec.secrets.items()}
    return Call(called, inputs, passed)


def call_outputs(called: LoadedWorkflow, contexts: dict[str, Value]) -> dict[str, str]:
    """The outputs the called workflow declares, rendered with `contexts` (github, jobs,
    inputs, vars); one that cannot be evaluated is left out."""
    call = called.model.on.workflow_call
    outputs: dict[str, str] = {}
    for name, out in (call.outputs if call else {}).items():
        with contextlib.suppress(ExpressionError):
            outputs[name] = to_string(render(out.value, lambda s: evaluate(s, contexts)))
    return outputs


def called_file(options: RunOptions, uses: str) -> Path:
    """`./.github/workflows/x.yml` in the repository, or `owner/repo/path@ref` from the
    action cache (fetched like a remote action)."""
    if uses.startswith("./"):
        root = options.repo_dir.resolve()
        path = (root / uses.split("@")[0]).resolve()
        if not path.is_relative_to(root):
            raise UserError(f"{uses}: a reusable workflow must be inside the repository")
        return path
    name, _, ref = uses.partition("@")
    owner, repo, inside = [*name.split("/", 2), "", ""][:3]
    try:
        checkout = RemoteActions(options.github_url, options.offline).directory(
            f"{owner}/{repo}@{ref}"
        )
    except RemoteActionError as exc:
        raise UserError(str(exc)) from None
    path = (checkout / inside).resolve()
    if not inside or not path.is_relative_to(checkout.resolve()) or not path.is_file():
        raise UserError(f"{uses}: no workflow {inside!r} in {owner}/{repo}@{ref}")
    return path


def typed_inputs(
    declared: dict[str, schema.InputSpec], given: dict[str, Any], where: str
) -> dict[str, Value]:
    """Apply defaults, check required inputs, and convert to the declared types."""
    values: dict[str, Value] = {}
    for name, spec in declared.items():
        if name in given and given[name] is not None:
            raw = given[name]
        elif spec.default is not None:
            raw = spec.default
        elif spec.required:
            raise UserError(
                f"required input {name!r} was not given",
                where=where,
                hint=f"pass --input {name}=VALUE",
            )
        else:
            raw = None
        values[name] = _convert(name, spec, raw, where)
    return values


def _convert(name: str, spec: schema.InputSpec, raw: Any, where: str) -> Value:
    if spec.type == "boolean":
        if raw is None:
            return False
        if isinstance(raw, bool):
            return raw
        text = to_string(raw).lower()
        if text not in ("true", "false"):
            raise UserError(f"input {name!r} must be true or false, got {raw!r}", where=where)
        return text == "true"
    if spec.type == "number":
        if raw is None:
            return 0.0
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise UserError(f"input {name!r} must be a number, got {raw!r}", where=where) from None
    text = "" if raw is None else to_string(raw)
    if spec.type == "choice" and spec.options and text and text not in spec.options:
        raise UserError(f"input {name!r} must be one of {spec.options}, got {text!r}", where=where)
    return text
