"""Copies of directory trees."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_tree(source: Path, target: Path) -> None:
    """`source` copied into `target`, symlinks kept as symlinks (jobs must not see each other's
    writes, and a link must not be followed out of the tree)."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
