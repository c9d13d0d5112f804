"""What git says about a repository, on real repositories: the commit, the branch (or a
detached HEAD, or no commit yet), uncommitted work, and the files of the last commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lockgate.common.gitinfo import repo_info


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    return repo


def test_no_commit_yet(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "new file").write_text("x")
    info = repo_info(repo)
    assert (info.sha, info.branch, info.dirty) == ("0" * 40, "main", True)
    assert info.changed_files == ("new file",) and info.repository == "local/repo"  # unquoted


def test_commits_renames_merges_and_a_detached_head(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "a").write_text("a")
    _git(repo, "add", "a")
    _git(repo, "commit", "-qm", "one")
    clean = repo_info(repo)
    assert clean.changed_files == ("a",) and not clean.dirty  # the root commit's files
    assert clean.sha == _git(repo, "rev-parse", "HEAD") and clean.is_toplevel
    _git(repo, "checkout", "-qb", "side")
    (repo / "s").write_text("s")
    _git(repo, "add", "s")
    _git(repo, "commit", "-qm", "side")
    _git(repo, "checkout", "-q", "main")
    (repo / "m").write_text("m")
    _git(repo, "add", "m")
    _git(repo, "commit", "-qm", "main")
    _git(repo, "merge", "-q", "--no-edit", "side")
    merged = repo_info(repo)
    assert merged.changed_files == ("s",)  # against the first parent
    _git(repo, "mv", "a", "renamed")
    _git(repo, "remote", "add", "origin", "git@github.com:acme/shop.git")
    moved = repo_info(repo)
    assert moved.dirty and "renamed" in moved.changed_files and moved.repository == "acme/shop"
    _git(repo, "checkout", "-q", "--detach")
    assert repo_info(repo).branch == "HEAD"


def test_not_a_repository(tmp_path: Path) -> None:
    info = repo_info(tmp_path)
    assert not info.is_git and info.repository == f"local/{tmp_path.name}"
