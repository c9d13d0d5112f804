"""Workflow files -> validated models, with file:line:col errors that say what to do."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import UserError
from . import schema
from .contexts import allowed_for
from .expressions import ExpressionError, parse
from .template import expressions_in
from .yamlsource import load_yaml, position, value_position

JOB_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class LoadedWorkflow:
    path: Path
    display: str  # path as shown to the user
    model: schema.Workflow
    tree: Any  # ruamel containers, for positions

    def where(self, path: Sequence[str | int]) -> str:
        line, col = value_position(self.tree, path)
        return f"{self.display}:{line}:{col}"


def plain(node: Any) -> Any:
    """ruamel's containers and scalar types -> plain Python data."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


def load_workflow(path: Path, display: str | None = None) -> LoadedWorkflow:
    shown = display or str(path)
    tree = load_yaml(path, shown)
    if not isinstance(tree, dict):
        raise UserError(
            "a workflow must be a mapping with `on:` and `jobs:`",
            where=f"{shown}:1:1",
            hint="start the file with `on: push` and a `jobs:` section",
        )
    data = plain(tree)
    try:
        model = schema.Workflow.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc, tree, shown) from None
    loaded = LoadedWorkflow(path, shown, model, tree)
    _check_job_ids(loaded)
    _check_expressions(loaded, data)
    return loaded


def _check_job_ids(wf: LoadedWorkflow) -> None:
    for job_id, job in wf.model.jobs.items():
        if not JOB_ID.fullmatch(job_id):
            raise UserError(
                f"invalid job id {job_id!r}",
                where=wf.where(["jobs", job_id]),
                hint="job ids start with a letter or '_' and contain only letters, digits, '-'"
                " and '_'",
            )
        for need in job.needs:
            if need not in wf.model.jobs:
                raise UserError(
                    f"job {job_id!r} needs {need!r}, which does not exist",
                    where=wf.where(["jobs", job_id, "needs"]),
                    hint=f"jobs in this workflow: {', '.join(wf.model.jobs)}",
                )


def _check_expressions(wf: LoadedWorkflow, data: Any) -> None:
    """Parse every `${{ }}` with the contexts GitHub allows at its place."""
    for path, text in _strings(data, ()):
        allowed = allowed_for(path)
        if allowed is None:
            continue
        contexts, functions = allowed
        for source in expressions_in(text, bare=_is_condition(path)):
            try:
                parse(source, contexts, functions)
            except ExpressionError as exc:
                raise UserError(
                    exc.message,
                    where=wf.where(path),
                    hint=f"contexts available here: {', '.join(sorted(contexts))}",
                ) from None


def _is_condition(path: Sequence[str | int]) -> bool:
    return bool(path) and path[-1] == "if"


def _strings(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*path, i))
    elif isinstance(node, str):
        yield path, node


def _schema_error(exc: ValidationError, tree: Any, display: str) -> UserError:
    # An unknown key is usually the typo behind every other error: report it first.
    error = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = [p for p in error["loc"] if not (isinstance(p, str) and p in ("job", "call"))]
    kind = error["type"]
    field = ".".join(str(p) for p in loc) or "(top level)"
    if kind == "extra_forbidden":
        line, col = position(tree, loc)
        allowed = _allowed_keys(loc[:-1], tree)
        return UserError(
            f"unknown key {loc[-1]!r} in {_describe(loc[:-1])}",
            where=f"{display}:{line}:{col}",
            hint=f"allowed keys: {', '.join(allowed)}" if allowed else "remove it",
        )
    if kind == "missing":
        line, col = position(tree, loc[:-1])
        return UserError(
            f"{_describe(loc[:-1])} is missing required key {loc[-1]!r}",
            where=f"{display}:{line}:{col}",
            hint=_MISSING_HINTS.get(str(loc[-1]), f"add `{loc[-1]}:`"),
        )
    line, col = value_position(tree, loc)
    message = error["msg"].removeprefix("Value error, ")
    return UserError(
        f"{field}: {message}",
        where=f"{display}:{line}:{col}",
        hint="see https://docs.github.com/actions/reference/workflow-syntax-for-github-actions",
    )


_MISSING_HINTS = {
    "runs-on": "add `runs-on: ubuntu-latest` (or another runner label)",
    "jobs": "add a `jobs:` section with at least one job",
    "on": "add `on: push` (or the events that should trigger this workflow)",
    "steps": "add `steps:` with at least one `run:` or `uses:` step",
}


def _describe(loc: Sequence[str | int]) -> str:
    if not loc:
        return "the workflow"
    if loc[0] == "jobs" and len(loc) >= 2:
        rest = loc[2:]
        job = f"job {loc[1]!r}"
        if len(rest) >= 2 and rest[0] == "steps":
            return f"step {int(rest[1]) + 1} of {job}" + (
                f" ({'.'.join(map(str, rest[2:]))})" if rest[2:] else ""
            )
        return job + (f" ({'.'.join(map(str, rest))})" if rest else "")
    return "`" + ".".join(map(str, loc)) + "`"


def _allowed_keys(loc: Sequence[str | int], tree: Any) -> list[str]:
    model = _model_at(loc, tree)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: Sequence[str | int], tree: Any) -> type[BaseModel] | None:
    """The schema model that validates the mapping at `loc`, when there is one."""
    if not loc:
        return schema.Workflow
    if loc[0] == "jobs" and len(loc) >= 2:
        try:
            job = tree["jobs"][loc[1]]
        except (KeyError, TypeError):
            return None
        job_model: type[BaseModel] = schema.CallJob if "uses" in job else schema.Job
        nested: dict[tuple[str, ...], type[BaseModel]] = {
            (): job_model,
            ("strategy",): schema.Strategy,
            ("defaults",): schema.Defaults,
            ("defaults", "run"): schema.RunDefaults,
            ("concurrency",): schema.Concurrency,
            ("environment",): schema.Environment,
            ("container",): schema.Container,
        }
        rest = tuple(str(p) for p in loc[2:])
        if len(rest) == 2 and rest[0] == "steps":
            return schema.Step
        if len(rest) == 2 and rest[0] == "services":
            return schema.Container
        return nested.get(rest)
    top: dict[tuple[str, ...], type[BaseModel]] = {
        ("defaults",): schema.Defaults,
        ("defaults", "run"): schema.RunDefaults,
        ("concurrency",): schema.Concurrency,
        ("on", "push"): schema.RefFilter,
        ("on", "pull_request"): schema.RefFilter,
        ("on", "workflow_dispatch"): schema.DispatchTrigger,
        ("on", "workflow_call"): schema.CallTrigger,
    }
    key = tuple(str(p) for p in loc)
    if len(key) == 4 and key[0] == "on" and key[2] == "inputs":
        return schema.InputSpec
    return top.get(key)
