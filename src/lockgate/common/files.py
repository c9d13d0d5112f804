"""Copies of directory trees, and files replaced whole."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def copy_tree(source: Path, target: Path) -> None:
    """`source` copied into `target`, symlinks kept as symlinks (jobs must not see each other's
    writes, and a link must not be followed out of the tree)."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)


def replace_whole(path: Path, text: str) -> None:
    """Write `path` whole, by rename: a reader sees the old text or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text(text)
    temp.replace(path)
