"""The GitOps config repository: the desired state of every environment, as files in git.

    PATH/                         the watched path of the repository (default: its root)
      lockgate-gitops.yaml        optional: how lockgate syncs it (self-heal, prune, windows)
      base.yaml                   optional: what every environment shares
      environments/NAME.yaml      one per environment (NAME is the file's stem): its overlay
                                  on base.yaml, naming the bundle `digest` to run
      flags.yaml                  optional: feature flags and segments, which `lockgate serve`
                                  applies (lockgate.flags.desired); the agent only carries it

An environment's document is base.yaml with its overlay merged on top by JSON Merge Patch
rules (RFC 7386), as Kustomize's patches merge: a mapping merges key by key, recursively; any
other value (a scalar, a list) replaces the base's whole; `null` removes the key. There is no
templating. The merged document is an environment file (see the README's Deploying section)
plus `digest`. Every problem is reported at the file, line and column that caused it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from ...common import cron
from ...common.errors import UserError
from ...common.names import checked_name
from ...common.yamlsource import load_yaml
from ...workflow.loader import plain
from ...workflow.project import parse_duration
from ...workflow.yamlmodel import error_at, error_location, first_error
from ..envfile import EnvironmentFile

SETTINGS = "lockgate-gitops.yaml"
BASE = "base.yaml"
FLAGS = "flags.yaml"
ENVIRONMENTS = "environments"
MAX_FILE = 1024 * 1024  # bytes a config file may have
HINT = "see docs/gitops.md for the config repository's layout and merge rules"
_DIGEST = re.compile(r"(?:sha256:)?([0-9a-f]{64})")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class SyncWindow(_Strict):
    """A deny window: automatic syncs wait from each time `schedule` fires (cron, UTC) for
    `duration`. A manual sync inside one needs an explicit, audited override."""

    schedule: str
    duration: str | int
    environments: list[str] = []  # default: every environment

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        cron.parse(value)  # CronError is a ValueError: reported at the value
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        if parse_duration(value) <= 0:
            raise ValueError("a window lasts more than 0 seconds")
        return value

    @property
    def seconds(self) -> float:
        return parse_duration(self.duration)

    def applies_to(self, environment: str) -> bool:
        return not self.environments or environment in self.environments


class SyncPolicy(_Strict):
    self_heal: bool = Field(False, alias="self-heal")  # revert changes made outside git
    prune: bool = False  # stop environments removed from git (else: reported, kept)
    windows: list[SyncWindow] = []


class GitopsSettings(_Strict):
    sync: SyncPolicy = SyncPolicy()


class DesiredFile(EnvironmentFile):
    """An environment file as the config repository writes it: with the digest to run."""

    digest: str

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        found = _DIGEST.fullmatch(value)
        if not found:
            raise ValueError(
                f"{value!r} is not a bundle digest: 64 hex digits, optionally after sha256:"
            )
        return found.group(1)


@dataclass(frozen=True)
class DesiredEnvironment:
    name: str
    digest: str
    spec: EnvironmentFile  # what the reconciler runs
    document: dict[str, Any]  # the merged document without the digest: the environment file
    file: str  # its overlay, as displayed


@dataclass
class ConfigTree:
    settings: GitopsSettings = field(default_factory=GitopsSettings)
    environments: dict[str, DesiredEnvironment] = field(default_factory=dict)
    problems: list[UserError] = field(default_factory=list)
    # flags.yaml as read (positions kept), for lockgate.flags; its problems are its own: a
    # broken flags file stops no environment's sync
    flags: Any = None
    flags_file: str = ""
    flags_problems: list[UserError] = field(default_factory=list)


@dataclass(frozen=True)
class _Source:
    display: str
    tree: Any  # ruamel's position-carrying containers


_Origins = dict[tuple[str | int, ...], _Source]  # where each place of a merged document came from


def read_config(root: Path, display: str = "") -> ConfigTree:
    """Every environment the tree under `root` defines, and every problem in it. `display`
    prefixes file names in messages (a directory, or `commit:`)."""
    found = ConfigTree()
    if not root.is_dir():
        found.problems.append(UserError("no such directory", where=display or str(root), hint=HINT))
        return found
    settings = _read(root / SETTINGS, display + SETTINGS, found.problems)
    if settings is not None:
        try:
            found.settings = GitopsSettings.model_validate(plain(settings.tree) or {})
        except ValidationError as exc:
            error = first_error(exc)
            found.problems.append(
                error_at(error, settings.tree, settings.display, GitopsSettings, HINT)
            )
    flags = _read(root / FLAGS, display + FLAGS, found.flags_problems)
    if flags is not None:
        found.flags, found.flags_file = flags.tree, flags.display
    base = _read(root / BASE, display + BASE, found.problems)
    folder = root / ENVIRONMENTS
    if not folder.is_dir() or folder.is_symlink():
        found.problems.append(
            UserError(
                f"no {ENVIRONMENTS}/ directory: it holds one NAME.yaml per environment",
                where=display or str(root),
                hint=HINT,
            )
        )
        return found
    for path in sorted(folder.iterdir()):
        shown = f"{display}{ENVIRONMENTS}/{path.name}"
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            name = checked_name(path.stem, "environment", shown)
        except UserError as exc:
            found.problems.append(exc)
            continue
        if name in found.environments:
            found.problems.append(
                UserError(f"environment {name!r} is defined twice", where=shown, hint=HINT)
            )
            continue
        overlay = _read(path, shown, found.problems)
        if overlay is None:
            continue
        try:
            found.environments[name] = _environment(name, base, overlay)
        except Problems as exc:
            found.problems.extend(exc.problems)
        except UserError as exc:
            found.problems.append(exc)
    _one_router_a_port(found)
    return found


def _one_router_a_port(found: ConfigTree) -> None:
    """Every router listens on this machine: two environments cannot share a port."""
    ports: dict[int, str] = {}
    for name, desired in sorted(found.environments.items()):
        port = desired.spec.router.port
        if port in ports:
            found.problems.append(
                UserError(
                    f"router port {port} is also environment {ports[port]!r}'s",
                    where=desired.file,
                    hint="give each environment a router port of its own",
                )
            )
        ports.setdefault(port, name)


def _read(path: Path, display: str, problems: list[UserError]) -> _Source | None:
    """A YAML mapping with its positions; None when absent or (reported) unreadable."""
    if path.is_symlink():
        problems.append(UserError("symbolic links are not followed", where=display, hint=HINT))
        return None
    if not path.exists():
        return None
    if path.stat().st_size > MAX_FILE:
        problems.append(
            UserError(f"larger than {MAX_FILE // 1024} KiB: not a settings file", where=display)
        )
        return None
    try:
        tree = load_yaml(path, display)
    except UserError as exc:
        problems.append(exc)
        return None
    if tree is not None and not isinstance(tree, dict):
        problems.append(
            UserError("expected a mapping of keys to values", where=f"{display}:1:1", hint=HINT)
        )
        return None
    return _Source(display, tree if tree is not None else {})


def _environment(name: str, base: _Source | None, overlay: _Source) -> DesiredEnvironment:
    origins: _Origins = {}
    merged: dict[str, Any] = {}
    if base is not None:
        merged = merge_patch({}, plain(base.tree))
        _mark(base.tree, (), base, origins)
    merged = merge_patch(merged, plain(overlay.tree))
    _mark_patch(overlay.tree, (), overlay, origins)
    try:
        desired = DesiredFile.model_validate(merged)
    except ValidationError as exc:
        raise Problems([_located(e, origins, overlay) for e in _ordered(exc)]) from None
    if desired.environment is not None and desired.environment != name:
        raise UserError(
            f"environment {desired.environment!r} differs from the file's name {name!r}",
            where=overlay.display,
            hint="an environment is named by its file; remove `environment:`",
        )
    document = {k: v for k, v in merged.items() if k not in ("digest", "environment")}
    spec = EnvironmentFile.model_validate(document)
    return DesiredEnvironment(name, desired.digest, spec, document, overlay.display)


class Problems(Exception):
    """Every problem of one environment's document, each at its place."""

    def __init__(self, problems: list[UserError]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _ordered(exc: ValidationError) -> list[ErrorDetails]:
    """Unknown keys first (usually the typo behind the rest), as `first_error` picks."""
    return sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")


def _located(error: ErrorDetails, origins: _Origins, overlay: _Source) -> UserError:
    loc = tuple(error_location(error))
    source = overlay if error["type"] == "missing" else _origin(loc, origins, overlay)
    return error_at(error, source.tree, source.display, DesiredFile, HINT)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: a mapping patches a mapping key by key; anything else replaces; null removes."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _mark(node: Any, path: tuple[str | int, ...], source: _Source, origins: _Origins) -> None:
    """Every place under `path` came from `source`."""
    origins[path] = source
    if isinstance(node, dict):
        for key, value in node.items():
            _mark(value, (*path, str(key)), source, origins)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _mark(value, (*path, index), source, origins)


def _mark_patch(node: Any, path: tuple[str | int, ...], source: _Source, origins: _Origins) -> None:
    """The places a patch set: a mapping's keys recursively, anything else whole."""
    if isinstance(node, dict):
        for key, value in node.items():
            _mark_patch(value, (*path, str(key)), source, origins)
    elif node is not None:
        _mark(node, path, source, origins)


def _origin(loc: tuple[str | int, ...], origins: _Origins, fallback: _Source) -> _Source:
    for end in range(len(loc), -1, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    return fallback
