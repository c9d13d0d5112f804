"""`uses:` -> a built-in, a local action directory, or a clear error saying how to map it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import builtin
from .builtin import BuiltinContext
from .manifest import Manifest, load_manifest
from .remote import RemoteActionError, RemoteActions
from .setup_node import setup_node
from .setup_python import setup_python
from .setup_uv import setup_uv

BUILTINS: dict[str, Callable[[BuiltinContext], None]] = {
    "actions/checkout": builtin.checkout,
    "actions/setup-python": setup_python,
    "actions/setup-node": setup_node,
    "actions/cache": builtin.cache,
    "actions/upload-artifact": builtin.upload_artifact,
    "actions/download-artifact": builtin.download_artifact,
    "astral-sh/setup-uv": setup_uv,
}


class UnresolvedAction(Exception):
    pass


@dataclass(frozen=True)
class Builtin:
    name: str
    run: Callable[[BuiltinContext], None]


@dataclass(frozen=True)
class LocalAction:
    directory: Path
    shown: str
    manifest: Manifest


def resolve(
    uses: str,
    workspace: Path,
    repo_dir: Path,
    action_paths: Mapping[str, Path],
    remote: RemoteActions,
) -> Builtin | LocalAction:
    uses = uses.strip()
    if uses.startswith("./"):
        # As on GitHub, `./` is the job's workspace: the checked-out repository.
        directory = (workspace / uses).resolve()
        if not directory.is_relative_to(workspace.resolve()):
            raise UnresolvedAction(f"{uses}: a local action must be inside the workspace")
        if not directory.is_dir() and (repo_dir / uses).is_dir():
            raise UnresolvedAction(
                f"{uses} is not in the job's workspace yet: run actions/checkout before using "
                "a local action"
            )
        return LocalAction(directory, uses, load_manifest(directory, uses))
    if uses.startswith("docker://"):
        raise UnresolvedAction(
            f"{uses}: docker actions need a container engine, and none is configured here"
        )
    if uses in action_paths or uses.split("@")[0] in action_paths:
        directory = action_paths.get(uses) or action_paths[uses.split("@")[0]]
        return LocalAction(directory, str(directory), load_manifest(directory, str(directory)))
    name = uses.split("@")[0].lower()
    if name in BUILTINS:
        return Builtin(name, BUILTINS[name])
    try:
        directory = remote.directory(uses)
    except RemoteActionError as exc:
        raise UnresolvedAction(
            f"{exc} (or map it to a local checkout with --action-path {uses}=DIR)"
        ) from None
    return LocalAction(directory, uses, load_manifest(directory, uses))
