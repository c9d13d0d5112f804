"""What git says about the repository a run starts from."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RepoInfo:
    root: Path
    is_git: bool  # inside a git work tree
    is_toplevel: bool  # the root of that work tree (its history can be cloned)
    sha: str
    branch: str
    dirty: bool
    repository: str  # owner/name, from the origin remote when there is one
    # The push's files: the last commit against its first parent (as GitHub's before..after of
    # a one-commit push, a merge commit included) plus uncommitted changes.
    changed_files: tuple[str, ...]


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def repo_info(root: Path) -> RepoInfo:
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return RepoInfo(root, False, False, "0" * 40, "main", True, f"local/{root.name}", ())
    sha = _git(root, "rev-parse", "HEAD") or "0" * 40
    branch = _git(root, "symbolic-ref", "--short", "-q", "HEAD") or "HEAD"
    status = _git(root, "status", "--porcelain", "--untracked-files=normal", "--", ".") or ""
    remote = _git(root, "remote", "get-url", "origin") or ""
    repository = _repository_name(remote) or f"local/{Path(top).name}"
    has_parent = _git(root, "rev-parse", "-q", "--verify", "HEAD^1") is not None
    last = (
        _git(root, "diff", "--name-only", "HEAD^1", "HEAD")
        if has_parent
        else _git(root, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", "HEAD")
    ) or ""
    pending = [line[3:].split(" -> ")[-1] for line in status.splitlines() if len(line) > 3]
    changed = tuple(sorted({*last.splitlines(), *pending} - {""}))
    is_toplevel = Path(top).resolve() == root.resolve()
    return RepoInfo(root, True, is_toplevel, sha, branch, bool(status), repository, changed)


def _repository_name(remote: str) -> str | None:
    cleaned = remote.removesuffix(".git").rstrip("/")
    parts = cleaned.replace(":", "/").split("/")
    if len(parts) >= 2 and parts[-1] and parts[-2]:
        return f"{parts[-2]}/{parts[-1]}"
    return None


def changed_between(root: Path, before: str, after: str) -> tuple[str, ...] | None:
    """Files a push from `before` to `after` changed (None when git cannot tell, e.g. a
    `before` of zeros for a new branch, or commits this clone does not have)."""
    if not before.strip("0") or not after:
        return None
    names = _git(root, "diff", "--name-only", before, after)
    return None if names is None else tuple(sorted(set(names.splitlines()) - {""}))
