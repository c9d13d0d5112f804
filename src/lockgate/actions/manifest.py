"""action.yml / action.yaml: the metadata of a local action."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from ..common.errors import UserError
from ..common.yamlsource import load_yaml, position
from ..workflow.loader import plain
from ..workflow.schema import Step, Strict


class ActionInput(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str | None = None
    required: bool = False
    default: str | int | float | bool | None = None
    deprecation_message: str | None = Field(None, alias="deprecationMessage")


class ActionOutput(Strict):
    description: str | None = None
    value: str | None = None


class Runs(Strict):
    using: str
    steps: list[Step] = []
    main: str | None = None
    pre: str | None = None
    post: str | None = None
    pre_if: str | None = Field(None, alias="pre-if")
    post_if: str | None = Field(None, alias="post-if")
    image: str | None = None
    args: list[str] = []
    env: dict[str, Any] = {}
    entrypoint: str | None = None


class Manifest(Strict):
    model_config = ConfigDict(extra="ignore", frozen=True)  # branding, author, ... are free-form
    name: str = ""
    description: str = ""
    inputs: dict[str, ActionInput] = {}
    outputs: dict[str, ActionOutput] = {}
    runs: Runs

    @property
    def kind(self) -> Literal["composite", "node", "docker"]:
        using = self.runs.using.lower()
        if using == "composite":
            return "composite"
        if using.startswith("node"):
            return "node"
        return "docker"


def load_manifest(directory: Path, shown: str) -> Manifest:
    for name in ("action.yml", "action.yaml"):
        path = directory / name
        if path.is_file():
            break
    else:
        raise UserError(
            f"no action.yml or action.yaml in {shown}",
            hint="point `uses:` at a directory that holds an action.yml",
        )
    tree = load_yaml(path, f"{shown}/{name}")
    try:
        return Manifest.model_validate(plain(tree))
    except ValidationError as exc:
        error = exc.errors()[0]
        line, col = position(tree, list(error["loc"]))
        raise UserError(
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}",
            where=f"{shown}/{name}:{line}:{col}",
            hint="see https://docs.github.com/actions/sharing-automations/creating-actions/"
            "metadata-syntax-for-github-actions",
        ) from None
