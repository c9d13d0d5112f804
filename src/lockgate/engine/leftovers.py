"""What a `lockgate run` killed with `kill -9` left behind: its steps' processes (found by the
run's marker, which every step process inherits) and its temp folder. The store marks its
jobs and steps interrupted; this stops and removes the rest."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..common.processes import RUN_MARKER, kill_marked

TEMP_PREFIX = "lockgate-run-"


def run_marker(repo_dir: Path, run_id: int) -> str:
    """NAME=value every process of one run carries (unique per repository and run)."""
    repo = hashlib.sha256(str(repo_dir.resolve()).encode()).hexdigest()[:12]
    return f"{RUN_MARKER}={repo}-{run_id}"


def work_root() -> Path:
    """A run's temp folder, named after its process so a later command can find it."""
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))


def clean_up(repo_dir: Path, dead: list[tuple[int, int]]) -> None:
    """Stop the processes and remove the temp folders of runs whose process died."""
    for run_id, pid in dead:
        kill_marked(run_marker(repo_dir, run_id))
        for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}{pid}-*"):
            if folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid():
                shutil.rmtree(folder, ignore_errors=True)
