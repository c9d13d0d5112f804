"""The content of a job's input files: sha256 per workspace file, remembered by stat like git's
index, so a rerun hashes only what changed."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path

from ...common.gitinfo import RepoInfo
from ..globs import filter_match
from ..workspace import listed_files

# A file changed again within the clock's granularity keeps its mtime; like git, do not trust
# the stat signature of a file modified moments ago.
RACY_NS = 2_000_000_000


class WorkspaceFiles:
    """Every file a run's workspace gets (tracked plus untracked, not ignored) with its digest."""

    def __init__(self, repo: RepoInfo, memo: Path) -> None:
        self.root = repo.root
        self.memo_path = memo
        self.memo: dict[str, list[int | str]] = self._load_memo()
        self.loaded = dict(self.memo)
        self.repo = repo
        self.digests: dict[str, str] = {}
        self.signatures: dict[str, list[int | str]] = {}
        for name in listed_files(repo):
            if name.startswith(".lockgate/"):
                continue
            digest = self._digest(name)
            if digest is not None:
                self.digests[name] = digest
        self._save_memo()

    def _load_memo(self) -> dict[str, list[int | str]]:
        try:
            loaded = json.loads(self.memo_path.read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _save_memo(self) -> None:
        fresh = {name: self.memo[name] for name in self.digests if name in self.memo}
        if fresh == self.loaded:
            return  # nothing new: a rerun of unchanged files writes nothing
        temp = self.memo_path.with_suffix(f".{os.getpid()}")
        self.memo_path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(json.dumps(fresh))
        os.replace(temp, self.memo_path)

    def _digest(self, name: str) -> str | None:
        path = self.root / name
        try:
            info = path.lstat()
        except FileNotFoundError:
            return None  # deleted in the working tree
        if stat.S_ISLNK(info.st_mode):
            # Its signature too: changed() compares links as well as files.
            self.signatures[name] = [info.st_size, info.st_mtime_ns, info.st_ino]
            return "link:" + os.readlink(path)
        if not stat.S_ISREG(info.st_mode):
            return None  # a submodule directory
        executable = bool(info.st_mode & stat.S_IXUSR)
        signature: list[int | str] = [info.st_size, info.st_mtime_ns, info.st_ino]
        self.signatures[name] = signature
        known = self.memo.get(name)
        if known and known[:3] == signature:
            return f"{'x' if executable else 'f'}:{known[3]}"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if time.time_ns() - info.st_mtime_ns > RACY_NS:
            self.memo[name] = [*signature, digest]
        return f"{'x' if executable else 'f'}:{digest}"

    def changed(self) -> list[str]:
        """Files added, removed or modified since they were hashed."""
        now: dict[str, list[int | str]] = {}
        for name in listed_files(self.repo):
            if name.startswith(".lockgate/"):
                continue
            try:
                info = (self.root / name).lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
                now[name] = [info.st_size, info.st_mtime_ns, info.st_ino]
        return sorted(
            n for n in now.keys() | self.signatures.keys() if now.get(n) != self.signatures.get(n)
        )

    def digest(self, patterns: Sequence[str] | None) -> str:
        """One digest over the selected files (all of them when `patterns` is None)."""
        outer = hashlib.sha256()
        for name in sorted(self.digests):
            if patterns is None or filter_match(name, patterns):
                outer.update(f"{name}\0{self.digests[name]}\n".encode())
        return outer.hexdigest()


def tree_digest(root: Path) -> str:
    """Digest of a directory outside the workspace (an --action-path copy of an action)."""
    outer = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        outer.update(f"{name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return outer.hexdigest()
