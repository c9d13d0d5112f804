"""What git says about the repository a run starts from, and what git said when it failed."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
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
    commit_message: str = ""  # the last commit's subject line
    commit_author: str = ""  # "name <email>"


def _git(root: Path, *args: str) -> str | None:
    return _gits(root, args)()[0]


def _gits(root: Path, *commands: tuple[str, ...]) -> Callable[[], list[str | None]]:
    """Start the git commands side by side; what the returned function gives is each one's
    output (None where it failed), once all have ended."""
    try:
        started = [
            subprocess.Popen(
                ["git", "-C", str(root), *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for args in commands
        ]
    except FileNotFoundError:
        return lambda: [None] * len(commands)

    def outputs() -> list[str | None]:
        said = [process.communicate()[0] for process in started]
        return [
            out.strip() if p.returncode == 0 else None for p, out in zip(started, said, strict=True)
        ]

    return outputs


def repo_info(root: Path) -> RepoInfo:
    return ask_repo_info(root)()


def ask_repo_info(root: Path) -> Callable[[], RepoInfo]:
    """Start the four git calls every `lockgate run` makes, side by side (the top level, the
    status with its branch header, the origin remote, the last commit's author, subject and
    files); the returned function waits for them and reads their answers. A run parses its
    files meanwhile."""
    asked = _gits(
        root,
        ("rev-parse", "--show-toplevel"),
        ("status", "--porcelain=v2", "--branch", "--untracked-files=normal", "--", "."),
        ("config", "--get", "remote.origin.url"),
        # Against the first parent (a merge commit too); a root commit lists all its files.
        ("log", "-1", "--format=%an <%ae>%x00%s", "--name-only", "-m", "--first-parent", "HEAD"),
    )
    return lambda: _read_repo_info(root, *asked())


def _read_repo_info(
    root: Path, top: str | None, status: str | None, remote: str | None, last: str | None
) -> RepoInfo:
    if top is None:
        return RepoInfo(root, False, False, "0" * 40, "main", True, f"local/{root.name}", ())
    headers, pending = _status(status or "")
    sha = headers.get("branch.oid", "(initial)")
    branch = headers.get("branch.head", "(detached)")
    repository = _repository_name(remote or "") or f"local/{Path(top).name}"
    said, _, names = (last or "").partition("\n")
    author, _, subject = said.partition("\0")
    changed = tuple(sorted({*names.splitlines(), *pending} - {""}))
    is_toplevel = Path(top).resolve() == root.resolve()
    return RepoInfo(
        root,
        True,
        is_toplevel,
        "0" * 40 if sha == "(initial)" else sha,
        "HEAD" if branch == "(detached)" else branch,
        bool(pending),
        repository,
        changed,
        subject,
        author,
    )


def _status(text: str) -> tuple[dict[str, str], list[str]]:
    """`git status --porcelain=v2 --branch`: its `# branch.*` headers, and the paths of its
    entries (changed, renamed: the new name, unmerged, untracked)."""
    headers: dict[str, str] = {}
    paths = []
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "#":
            name, _, value = rest.partition(" ")
            headers[name] = value
        elif kind == "1":
            paths.append(line.split(" ", 8)[8])
        elif kind == "2":
            paths.append(line.split(" ", 9)[9].split("\t")[0])
        elif kind == "u":
            paths.append(line.split(" ", 10)[10])
        elif kind == "?":
            paths.append(rest)
    return headers, paths


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


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
SAID_LINES = 30  # of a failing git's message kept: all of any real one, bounded for a flood


def without_credentials(text: str) -> str:
    """A URL's `user:password@` is never shown or stored."""
    return _USERINFO.sub("***@", text)


def git_said(stderr: str, returncode: int) -> str:
    """A failing git's whole message (hints and all, its last SAID_LINES lines), without
    credentials: its last line alone often leaves out why ("... and the repository exists")."""
    lines = [line.rstrip() for line in stderr.strip().splitlines() if line.strip()]
    return without_credentials("\n".join(lines[-SAID_LINES:]) or f"git exited {returncode}")
