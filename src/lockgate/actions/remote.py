"""`uses: owner/repo[/path]@ref`: a git checkout of that commit, cached in the user's cache.

The repository is cloned from `--github-url` (GitHub, a GitHub Enterprise server, a mirror, or
a `file://` tree of owner/repo repositories). A ref is resolved to a commit with `git
ls-remote`; a checkout is kept per commit and shared by every repository of the user, so a
pinned sha is fetched once. `--offline` uses only the cache (refs resolved earlier included).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..common.gitinfo import git_said
from ..common.userdirs import cache_dir

FULL_SHA = re.compile(r"[0-9a-f]{40}")
NAME = re.compile(r"[A-Za-z0-9_.-]+")
REF = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./+-]*")


class RemoteActionError(Exception):
    """The action cannot be had: the message says why and what to do."""


@dataclass(frozen=True)
class Reference:
    owner: str
    repo: str
    path: str  # inside the repository, "" for its root
    ref: str

    @staticmethod
    def parse(uses: str) -> Reference:
        name, at, ref = uses.strip().partition("@")
        parts = name.split("/")
        if not at or len(parts) < 2 or not ref:
            raise RemoteActionError(f"{uses!r} is not owner/repo[/path]@ref")
        owner, repo, path = parts[0], parts[1], "/".join(parts[2:])
        bad = (
            not NAME.fullmatch(owner)
            or not NAME.fullmatch(repo)
            or owner in (".", "..")
            or repo in (".", "..")
            or not REF.fullmatch(ref)
            or ".." in ref.split("/")
            or any(p in ("", ".", "..") for p in path.split("/") if path)
        )
        if bad:
            raise RemoteActionError(
                f"{uses!r}: owner, repository, path and ref may hold only letters, digits and "
                "'-_./', with no '..'"
            )
        return Reference(owner, repo, path, ref)


class RemoteActions:
    def __init__(self, base_url: str, offline: bool) -> None:
        self.base_url = base_url.rstrip("/")
        self.offline = offline

    def url(self, ref: Reference) -> str:
        return f"{self.base_url}/{ref.owner}/{ref.repo}"

    def directory(self, uses: str) -> Path:
        """The checked-out action (or reusable workflow) directory for `uses`."""
        ref = Reference.parse(uses)
        root = cache_dir("actions", ref.owner.lower(), ref.repo.lower())
        sha = ref.ref if FULL_SHA.fullmatch(ref.ref) else self.resolve(ref, root)
        tree = root / sha
        if not tree.is_dir():
            if self.offline:
                raise RemoteActionError(
                    f"{uses} ({sha[:12]}) is not in the action cache and --offline forbids "
                    "fetching it; run once without --offline"
                )
            self.fetch(ref, sha, tree)
        target = (tree / ref.path).resolve() if ref.path else tree
        if not target.is_relative_to(tree.resolve()) or not target.is_dir():
            raise RemoteActionError(f"{uses}: no directory {ref.path!r} in {ref.owner}/{ref.repo}")
        return target

    def resolve(self, ref: Reference, root: Path) -> str:
        remembered = root / "refs.json"
        known: dict[str, str] = {}
        if remembered.is_file():
            known = {str(k): str(v) for k, v in json.loads(remembered.read_text()).items()}
        if self.offline:
            if ref.ref not in known:
                raise RemoteActionError(
                    f"{ref.owner}/{ref.repo}@{ref.ref} was never resolved here and --offline "
                    "forbids asking the server; run once without --offline"
                )
            return known[ref.ref]
        listing = _git("ls-remote", "--", self.url(ref), ref.ref, f"refs/tags/{ref.ref}^{{}}")
        by_name: dict[str, str] = {}
        for line in listing.splitlines():
            sha, _, name = line.partition("\t")
            by_name[name] = sha
        for name in (
            f"refs/tags/{ref.ref}^{{}}",
            f"refs/tags/{ref.ref}",
            f"refs/heads/{ref.ref}",
            ref.ref,
        ):
            if name in by_name:
                known[ref.ref] = by_name[name]
                partial = remembered.with_suffix(f".{uuid.uuid4().hex}")
                partial.write_text(json.dumps(known))
                partial.replace(remembered)
                return by_name[name]
        raise RemoteActionError(
            f"{ref.owner}/{ref.repo} has no branch or tag {ref.ref!r} at {self.url(ref)}"
        )

    def fetch(self, ref: Reference, sha: str, tree: Path) -> None:
        with open(f"{tree}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two jobs may want the same action at once
            if tree.is_dir():
                return
            partial = tree.with_name(f"{tree.name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            _git("init", "-q", str(partial))
            wanted = sha if FULL_SHA.fullmatch(ref.ref) else ref.ref
            _git("-C", str(partial), "fetch", "-q", "--depth", "1", "--", self.url(ref), wanted)
            fetched = _git("-C", str(partial), "rev-parse", "FETCH_HEAD").strip()
            if fetched != sha:
                raise RemoteActionError(
                    f"{ref.owner}/{ref.repo}@{ref.ref} moved while fetching ({sha[:12]} -> "
                    f"{fetched[:12]}); run again"
                )
            _git("-C", str(partial), "-c", "advice.detachedHead=false", "checkout", "-q", sha)
            shutil.rmtree(partial / ".git")
            partial.rename(tree)


def _git(*args: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, env=env, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RemoteActionError(f"git {args[0]} failed: {exc}") from None
    if done.returncode != 0:
        said = git_said(done.stderr, done.returncode)
        raise RemoteActionError(f"git {' '.join(a for a in args if '://' not in a)}: {said}")
    return done.stdout
