"""The isolated copy of the repository a run works in: tracked plus untracked, not ignored."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from ..common.gitinfo import RepoInfo


def listed_files(repo: RepoInfo) -> list[str]:
    if not repo.is_git:
        return [
            str(p.relative_to(repo.root))
            for p in repo.root.rglob("*")
            if (p.is_file() or p.is_symlink()) and ".lockgate" not in p.parts
        ]
    out = subprocess.run(
        [
            "git",
            "-C",
            str(repo.root),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return [name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def snapshot(repo: RepoInfo, destination: Path) -> Path:
    """Copy the working tree (uncommitted work included) with git history shared, not copied."""
    destination.mkdir(parents=True, exist_ok=True)
    if repo.is_toplevel:
        subprocess.run(
            ["git", "clone", "-q", "--shared", "--no-checkout", str(repo.root), str(destination)],
            check=True,
            capture_output=True,
        )
        if repo.sha.strip("0"):
            subprocess.run(
                ["git", "-C", str(destination), "reset", "-q", repo.sha],
                check=True,
                capture_output=True,
            )
    for name in listed_files(repo):
        source = repo.root / name
        target = destination / name
        if not (source.is_file() or source.is_symlink()):
            continue  # deleted in the working tree, or a submodule directory
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.unlink(missing_ok=True)
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return destination


class RunSnapshot:
    """The run's copy of the working tree, taken when the first job needs it: a run whose jobs
    all come from the cache copies nothing. `on_taken` runs right after the copy."""

    def __init__(self, repo: RepoInfo, destination: Path, on_taken: Callable[[], None]) -> None:
        self.repo = repo
        self.destination = destination
        self.on_taken = on_taken
        self.lock = asyncio.Lock()
        self.taken: Path | None = None

    async def path(self) -> Path:
        async with self.lock:
            if self.taken is None:
                self.taken = await asyncio.to_thread(snapshot, self.repo, self.destination)
                self.on_taken()
            return self.taken
