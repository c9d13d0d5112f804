"""The config repository as lockgate reads it: fetched into a bare copy in the state
directory (so a pass needs the network only to fetch), one commit's watched folder exported
into a temporary directory to be read."""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ...common.archive import UnsafeArchive, safe_extract
from ...common.errors import UserError
from ...common.gitinfo import without_credentials
from ...workflow.project import GitopsSourceSettings
from .layout import ConfigTree, read_config

MAX_TREE = 64 * 1024 * 1024  # bytes of files the watched folder may hold
GIT_TIMEOUT = 60.0  # seconds a fetch may take before the repository counts as unreachable
_SHA = re.compile(r"[0-9a-f]{7,40}")


class Unreachable(Exception):
    """The repository could not be fetched; says why (git's whole message, no credentials)."""


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str  # Name <email>
    subject: str


class ConfigRepository:
    def __init__(self, settings: GitopsSourceSettings, state_dir: Path) -> None:
        self.settings = settings
        self.git_dir = state_dir / "gitops" / "repository.git"

    @property
    def key(self) -> str:
        """What the watched source is called in records and messages: url#branch:path."""
        shown = without_credentials(self.settings.repository)
        return f"{shown}#{self.settings.branch}:{self.settings.path or '.'}"

    def _git(self, *args: str, timeout: float = GIT_TIMEOUT) -> bytes:
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # a missing credential is an error, never a prompt
            "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
            "LC_ALL": "C",
        }
        try:
            done = subprocess.run(
                ["git", f"--git-dir={self.git_dir}", *args],
                capture_output=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Unreachable(f"git {args[0]} took more than {timeout:g}s") from None
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise Unreachable(without_credentials(said))
        return done.stdout

    def fetch(self, ref: str | None = None) -> Commit:
        """Fetch the watched branch (or `ref`: a branch, a tag, refs/pull/N/head, a commit)
        and return the commit it names."""
        if not (self.git_dir / "HEAD").exists():
            self.git_dir.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["git", "init", "--quiet", "--bare", str(self.git_dir)],
                check=True,
                capture_output=True,
            )
        if ref is None:
            self._fetch(f"+refs/heads/{self.settings.branch}:refs/lockgate/tip")
            return self.commit("refs/lockgate/tip")
        if ref.startswith("-") or any(c in ref for c in " \n\r\0:^~"):
            raise UserError(f"{ref!r} is not a git ref", where="--ref")
        if _SHA.fullmatch(ref):  # a commit: reachable from the fetched branches
            self._fetch("+refs/heads/*:refs/lockgate/heads/*")
        elif ref.startswith("refs/"):  # refs/pull/7/head, refs/tags/v1, ...
            self._fetch(f"+{ref}:refs/lockgate/ref")
            ref = "refs/lockgate/ref"
        else:  # a branch, else a tag
            try:
                self._fetch(f"+refs/heads/{ref}:refs/lockgate/ref")
            except Unreachable:
                self._fetch(f"+refs/tags/{ref}:refs/lockgate/ref")
            ref = "refs/lockgate/ref"
        return self.commit(ref)

    def _fetch(self, refspec: str) -> None:
        url = self.settings.repository
        self._git("fetch", "--quiet", "--no-tags", "--force", "--", url, refspec)

    def _size(self, treeish: str) -> int:
        """The bytes of every file under `treeish` (ls-tree -l: mode type object size\tpath)."""
        listed = self._git("ls-tree", "-r", "-l", treeish).decode(errors="replace")
        sizes = (line.split("\t", 1)[0].split()[-1] for line in listed.splitlines())
        return sum(int(size) for size in sizes if size.isdigit())

    def commit(self, ref: str) -> Commit:
        try:
            shown = self._git("log", "-1", "--format=%H%n%an <%ae>%n%s", f"{ref}^{{commit}}", "--")
        except Unreachable as exc:
            raise UserError(
                f"no commit {ref!r} in the config repository: {exc}", where="--ref"
            ) from None
        sha, author, subject = [*shown.decode(errors="replace").split("\n"), "", ""][:3]
        return Commit(sha, author, subject)

    @contextmanager
    def tree(self, commit: Commit) -> Iterator[ConfigTree]:
        """The watched folder of `commit`, read; problems are the tree's, never raised."""
        path = self.settings.path
        shown = f"{commit.sha[:12]}:{path + '/' if path else ''}"
        with tempfile.TemporaryDirectory(dir=self.git_dir.parent, prefix="tree-") as temp:
            root = Path(temp) / "config"
            treeish = f"{commit.sha}:{path}" if path else commit.sha
            try:
                size = self._size(treeish)
                if size > MAX_TREE:  # read whole into memory: settings files are small
                    raise UnsafeArchive(f"{size} bytes of files, more than {MAX_TREE}")
                archive = self._git("archive", "--format=tar", treeish)
                with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                    safe_extract(tar, root, MAX_TREE)
            except Unreachable:
                missing = ConfigTree()
                missing.problems.append(
                    UserError(f"the commit has no folder {path or '.'}", where=shown)
                )
                yield missing
                return
            except UnsafeArchive as exc:
                refused = ConfigTree()
                refused.problems.append(UserError(f"refused: {exc}", where=shown))
                yield refused
                return
            yield read_config(root, shown)
