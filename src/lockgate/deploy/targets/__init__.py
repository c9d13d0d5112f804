"""Where instances run: one module per kind of target, each a targets.base.Target, chosen here."""

from __future__ import annotations

from pathlib import Path

from .base import Target
from .local import LocalTarget


def target_for(kind: str, directory: Path) -> Target:
    """The target an environment file names (`target: type:`), keeping its files in `directory`."""
    targets = {"local": LocalTarget}
    return targets[kind](directory)
