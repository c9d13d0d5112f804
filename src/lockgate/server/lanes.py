"""Where a merge-queue lane's git lives, one interface per kind of repository: a hooked bare
repository on this machine (`BareLane`: its refs are the truth, moved in place), or a GitHub or
Gitea repository (`ForgeLane`: a mirror in the server's home, fetched when the queue has work,
candidates pushed to the forge so runs fetch them from there, the target moved through the
forge and the pull request told how it went with the `lockgate/merge-queue` status)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..store import Store
from ..store.mergequeue import MergeEntry
from ..store.repositories import ForgeKind, Repository, RepositoryRecords
from .pullrequests import QUEUE_CONTEXT, ForgeTrouble, git_with, move
from .statuses import Forge, Status, comment_for, request_for, send

MIRRORS = "merge-mirrors"  # in the server's home: one bare mirror per forge repository


def git(bare: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", "-C", str(bare), *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip() if done.returncode == 0 else ""


def tip(bare: Path, branch: str) -> str:
    return git(bare, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False)


class Lane(Protocol):
    git_dir: Path  # where merge commits are made

    def sync(self, target: str, entries: list[MergeEntry]) -> dict[int, str]:
        """Bring the target and the changes up to date; the entries that can no longer be
        tested as queued, with why (a pull request pushed to or closed)."""
        ...

    def tip(self, target: str) -> str: ...

    def publish(self, branch: str, commit: str) -> None:
        """Make `commit` fetchable as `branch`, where the run testing it fetches from."""
        ...

    def withdraw(self, branch: str) -> None: ...

    def move(self, entry: MergeEntry, commit: str, expected: str) -> bool:
        """Move the entry's target from `expected` to `commit`; False if it was not there."""
        ...

    def where(self) -> tuple[str, str, dict[str, Any]]:
        """(source, repository URL, payload fields) of the runs that test this lane."""
        ...

    def tell(self, entry: MergeEntry, state: str, text: str, comment: bool = False) -> None:
        """Say on the change how the queue sees it (a forge's pull request); best effort."""
        ...


class BareLane:
    def __init__(self, bare: Path) -> None:
        self.git_dir = bare

    def sync(self, target: str, entries: list[MergeEntry]) -> dict[int, str]:
        return {}  # its refs are the truth, read in place

    def tip(self, target: str) -> str:
        return tip(self.git_dir, target)

    def publish(self, branch: str, commit: str) -> None:
        git(self.git_dir, "update-ref", f"refs/heads/{branch}", commit)

    def withdraw(self, branch: str) -> None:
        git(self.git_dir, "update-ref", "-d", f"refs/heads/{branch}", check=False)

    def move(self, entry: MergeEntry, commit: str, expected: str) -> bool:
        swap = ["update-ref", f"refs/heads/{entry.target}", commit, expected]  # compare-and-swap
        return subprocess.run(["git", "-C", str(self.git_dir), *swap], capture_output=True
                              ).returncode == 0  # fmt: skip

    def where(self) -> tuple[str, str, dict[str, Any]]:
        return "queue", str(self.git_dir), {}

    def tell(self, entry: MergeEntry, state: str, text: str, comment: bool = False) -> None:
        pass  # the queue's page and `lockgate queue list` say it


class ForgeLane:
    def __init__(self, registration: Repository, forge: Forge, home: Path, link: str) -> None:
        assert registration.full_name is not None
        self.registration, self.forge, self.link = registration, forge, link
        self.full_name = registration.full_name
        self.url = registration.source
        self.git_dir = home / MIRRORS / f"{registration.id}.git"
        if not (self.git_dir / "HEAD").exists():
            self.git_dir.mkdir(parents=True, exist_ok=True)
            git(self.git_dir, "init", "-q", "--bare")

    def _git(self, *args: str) -> None:
        done = git_with(self.forge, self.git_dir, *args)
        if done.returncode != 0:
            raise ForgeTrouble(f"git {args[0]} with {self.full_name}: {done.stderr.strip()[-300:]}")

    def sync(self, target: str, entries: list[MergeEntry]) -> dict[int, str]:
        wanted = [f"+refs/heads/{target}:refs/heads/{target}"]
        wanted += [f"+refs/pull/{e.pull}/head:refs/pull/{e.pull}/head" for e in entries if e.pull]
        done = git_with(self.forge, self.git_dir, "fetch", "-q", "--no-tags", self.url, *wanted)
        if done.returncode != 0:  # one pull request's ref gone (closed, deleted): by one
            self._git("fetch", "-q", "--no-tags", self.url, wanted[0])
            for ref in wanted[1:]:
                git_with(self.forge, self.git_dir, "fetch", "-q", "--no-tags", self.url, ref)
        stale = {}
        for entry in entries:
            now = git(self.git_dir, "rev-parse", "-q", "--verify", f"refs/pull/{entry.pull}/head",
                      check=False)  # fmt: skip
            if now != entry.head:
                changed = f"#{entry.pull} changed after it was queued (now {now[:12]})"
                stale[entry.id] = f"{changed}: queue it again" if now else f"#{entry.pull} is gone"
        return stale

    def tip(self, target: str) -> str:
        return tip(self.git_dir, target)

    def publish(self, branch: str, commit: str) -> None:
        self._git("push", "-q", "--force", self.url, f"{commit}:refs/heads/{branch}")

    def withdraw(self, branch: str) -> None:
        git_with(self.forge, self.git_dir, "push", "-q", self.url, f":refs/heads/{branch}")

    def move(self, entry: MergeEntry, commit: str, expected: str) -> bool:
        assert entry.pull is not None
        # A branch rule requiring the queue's status checks the commit the branch moves to.
        status = Status("success", f"{self.link}/merge-queue", f"tested: merge queue #{entry.id}",
                        QUEUE_CONTEXT)  # fmt: skip
        failed = send(self.forge, request_for(self.forge, self.full_name, commit, status))
        if failed:
            raise ForgeTrouble(f"the tested commit's status: {failed}")
        moved = move(self.forge, self.full_name, self.git_dir, self.url, entry.pull, entry.target,
                     commit, expected)  # fmt: skip
        if moved:
            git(self.git_dir, "update-ref", f"refs/heads/{entry.target}", commit)
        return moved

    def where(self) -> tuple[str, str, dict[str, Any]]:
        about = {"full_name": self.full_name, "clone_url": self.url}
        return self.forge.kind, self.url, {"repository": about}

    def tell(self, entry: MergeEntry, state: str, text: str, comment: bool = False) -> None:
        status = Status(state, f"{self.link}/merge-queue", text[:140], QUEUE_CONTEXT)
        failed = send(self.forge, request_for(self.forge, self.full_name, entry.head, status))
        if comment and entry.pull is not None and not failed:
            failed = send(self.forge, comment_for(self.forge, self.full_name, entry.pull,
                                                  f"**Merge queue:** {text}"))  # fmt: skip
        if failed:
            print(f"merge queue {self.full_name}#{entry.pull}: {failed}", flush=True)


@dataclass(frozen=True)
class Lanes:
    """Makes the lane of a registered repository."""

    store: Store
    forges: dict[str, Forge]  # the forges with a token
    home: Path  # the server's: mirrors live in it
    link: str  # the server's public URL, linked from statuses

    def of(self, repository: str) -> Lane:
        """ForgeTrouble when the repository is not registered or its forge has no token."""
        found = RepositoryRecords(self.store).matching(repository)
        if found is None:
            raise ForgeTrouble(f"{repository} is no longer registered")
        if found.forge == ForgeKind.GIT:
            return BareLane(Path(found.source))
        return ForgeLane(found, self.forge(found), self.home, self.link)

    def forge(self, registration: Repository) -> Forge:
        """The forge a registered GitHub or Gitea repository is reached through."""
        forge = self.forges.get(registration.forge.value)
        if forge is None or registration.full_name is None:
            name = registration.forge.value.upper()
            raise ForgeTrouble(f"no {registration.forge.value} token: lockgate serve needs "
                               f"LOCKGATE_{name}_TOKEN to queue its pull requests")  # fmt: skip
        return forge
