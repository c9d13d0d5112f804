"""Workflow files -> validated models, with file:line:col errors that say what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..common.errors import UserError
from ..common.yamlsource import read_source
from . import schema, tokens
from .problems import Limits, WorkflowInvalid
from .semantics import CalledWorkflows
from .tokens import Map, Token, locate
from .validate import validate


@dataclass(frozen=True)
class LoadedWorkflow:
    path: Path
    display: str  # path as shown to the user
    model: schema.Workflow
    tree: Token  # positions of every key and value
    data: dict[str, Any]  # the file as plain data

    def where(self, path: Sequence[str | int]) -> str:
        line, col = locate(self.tree, path)
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


def local_calls(repo_dir: Path) -> CalledWorkflows:
    """Reads `./` reusable workflows of a repository, never a path outside it."""
    root = repo_dir.resolve()

    def read(uses: str) -> str | None:
        if not uses.startswith("./"):
            return None
        path = (root / uses.split("@")[0]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    return read


def load_workflow(
    path: Path, display: str | None = None, called: CalledWorkflows | None = None
) -> LoadedWorkflow:
    """Read and check a workflow as GitHub would; every problem is reported at once."""
    shown = display or str(path)
    checked = validate(read_source(path, shown), Limits(), called)
    if checked.problems:
        raise WorkflowInvalid(shown, checked.problems)
    assert isinstance(checked.root, Map)  # a valid workflow is a mapping
    data = tokens.plain(checked.root)
    try:
        model = schema.Workflow.model_validate(data)
    except ValidationError as exc:
        # GitHub accepts it, but lockgate's model does not: say so rather than crash.
        error = exc.errors()[0]
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p in ("job", "call"))]
        line, col = locate(checked.root, loc)
        raise UserError(
            f"lockgate cannot run this yet: {'.'.join(map(str, loc))}: {error['msg']}",
            where=f"{shown}:{line}:{col}",
            hint="GitHub accepts it; please report it to lockgate with this workflow",
        ) from None
    return LoadedWorkflow(path, shown, model, checked.root, data)
