"""Flags as a file: the desired flags and segments, as the GitOps config repository's
`flags.yaml` (or any file given to `lockgate flags apply`) writes them.

    segments:
      nordics:
        description: Nordic users
        constraints:
          - {contextName: country, operator: IN, values: [NO, SE]}
    flags:
      new-checkout:
        type: release
        description: the one-page checkout
        environments:
          production:
            enabled: true
            strategies:
              - name: flexibleRollout
                parameters: {rollout: "25", stickiness: default, groupId: new-checkout}
                segments: [nordics]
          staging: {enabled: true}

An environment's state is Unleash's (`enabled`, `strategies`, `variants`), segments named by
name. Environments a flag does not list are left as they are. Every problem is reported at its
file, line and column."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..common.errors import UserError
from ..common.yamlsource import load_yaml
from ..store.flags import FlagKind
from ..workflow.loader import plain
from ..workflow.yamlmodel import error_at, first_error

HINT = "see docs/flags.md, Flags in git"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DesiredSegment(_Strict):
    description: str = ""
    constraints: list[dict[str, Any]] = Field(min_length=1)


class EnvironmentState(_Strict):
    enabled: bool = False
    strategies: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []


class DesiredFlag(_Strict):
    type: FlagKind = FlagKind.RELEASE
    description: str = ""
    environments: dict[str, EnvironmentState] = {}


class FlagsDocument(_Strict):
    segments: dict[str, DesiredSegment] = {}
    flags: dict[str, DesiredFlag] = {}


@dataclass(frozen=True)
class DesiredFlags:
    document: FlagsDocument
    display: str  # where it was read: a file, or commit:path

    def digest(self, flag: str, environment: str) -> str:
        """What identifies one flag's desired state in one environment (what was applied)."""
        state = self.document.flags[flag].environments[environment]
        text = json.dumps(state.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_flags(tree: Any, display: str) -> DesiredFlags:
    """A flags document from a YAML tree (ruamel's, with positions); UserError at the place
    of the first problem."""
    try:
        document = FlagsDocument.model_validate(plain(tree) or {})
    except ValidationError as exc:
        raise error_at(first_error(exc), tree, display, FlagsDocument, HINT) from None
    return DesiredFlags(document, display)


def read_flags_file(path: Path) -> DesiredFlags:
    if not path.is_file():
        raise UserError(f"no file {path}", hint="give a flags file (YAML)")
    return read_flags(load_yaml(path), str(path))
