"""The merge queue's pass over a lane, on a real store and bare repository: a server killed
between moving the target and recording it finds the move done on its next pass; a pull
request is queued once, and never with names git would misread."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.common.ports import free_port
from lockgate.server.doorbell import Doorbell
from lockgate.server.lanes import Lanes
from lockgate.server.mergequeue import MergeQueue, add_change, add_pull, queue_branch, tip
from lockgate.server.pullrequests import PullRequest
from lockgate.server.statuses import Forge
from lockgate.store import Store
from lockgate.store.mergequeue import EntryState, MergeQueueRecords
from lockgate.store.repositories import ForgeKind, RepositoryRecords


def git(where: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(where), *args], check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def _repository(tmp_path: Path) -> Path:
    """A bare repository with main and a branch `change` adding a.txt."""
    work, bare = tmp_path / "work", tmp_path / "octo" / "app"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    identity = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    git(work, *identity, "commit", "-q", "--allow-empty", "-m", "start")
    git(work, "checkout", "-q", "-b", "change")
    (work / "a.txt").write_text("a\n")
    git(work, "add", "a.txt")
    git(work, *identity, "commit", "-q", "-m", "a")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


def test_a_target_moved_before_the_server_died_is_recorded_merged(tmp_path: Path) -> None:
    bare = _repository(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    RepositoryRecords(store).add("repo", str(bare), ForgeKind.GIT, "admin")
    entry = add_change(store, str(bare), "change", "main", "alice")
    lanes = Lanes(store, {}, tmp_path, "")
    queue = MergeQueue(lanes, threading.Event(), Doorbell(), depth=1)
    queue.advance(lanes.of(entry.repository), entry.repository, "main")  # merged, test queued
    testing = MergeQueueRecords(store).get(entry.id)
    assert testing is not None and testing.state == EntryState.TESTING and testing.candidate
    # it passed, the target moved to it, and the server died before recording the merge
    MergeQueueRecords(store).change(entry.id, state=EntryState.PASSED)
    git(bare, "update-ref", "refs/heads/main", testing.candidate)
    queue.advance(lanes.of(entry.repository), entry.repository, "main")
    done = MergeQueueRecords(store).get(entry.id)
    assert done is not None and done.state == EntryState.MERGED
    assert tip(bare, "main") == testing.candidate
    assert tip(bare, queue_branch(testing)) == ""


def test_a_pull_request_naming_what_git_would_misread_is_refused(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    registration = RepositoryRecords(store).add(
        "app", "https://github.example/octo/app", ForgeKind.GITHUB, "admin"
    )
    lanes = Lanes(store, {}, tmp_path, "")
    for base, head in (("--upload-pack=x", "a" * 40), ("main:evil", "a" * 40), ("main", "HEAD")):
        pull = PullRequest(7, head, "feature", base, True)
        with pytest.raises(UserError, match="cannot use"):
            add_pull(lanes, registration, pull, "alice")
    closed = PullRequest(7, "a" * 40, "feature", "main", False)
    with pytest.raises(UserError, match="is closed"):
        add_pull(lanes, registration, closed, "alice")
    assert MergeQueueRecords(store).listed() == []  # nothing was queued
    queued = add_pull(lanes, registration, PullRequest(7, "a" * 40, "f", "main", True), "al")
    assert (
        add_pull(lanes, registration, PullRequest(7, "a" * 40, "f", "main", True), "bo") == queued
    )


def test_a_forge_moved_before_the_server_died_is_recorded_merged(tmp_path: Path) -> None:
    """The same on a Gitea lane, whose forge is a repository reached by file:// (its API does
    not answer: what the pull request is told is only said, the queue goes on)."""
    forge = _repository(tmp_path)
    git(forge, "update-ref", "refs/pull/1/head", "refs/heads/change")
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    registration = RepositoryRecords(store).add("app", f"file://{forge}", ForgeKind.GITEA, "a")
    gitea = Forge("gitea", f"http://127.0.0.1:{free_port()}/api/v1", "t0ken")
    lanes = Lanes(store, {"gitea": gitea}, tmp_path / "home", "")
    head = git(forge, "rev-parse", "refs/pull/1/head")
    entry = add_pull(lanes, registration, PullRequest(1, head, "change", "main", True), "al")
    queue = MergeQueue(lanes, threading.Event(), Doorbell(), depth=1)
    queue.advance(lanes.of(entry.repository), entry.repository, "main")
    testing = MergeQueueRecords(store).get(entry.id)
    assert testing is not None and testing.state == EntryState.TESTING and testing.candidate
    assert tip(forge, queue_branch(testing)) == testing.candidate  # pushed for the run to fetch
    MergeQueueRecords(store).change(entry.id, state=EntryState.PASSED)
    git(forge, "update-ref", "refs/heads/main", testing.candidate)  # pushed, then it died
    queue.advance(lanes.of(entry.repository), entry.repository, "main")
    done = MergeQueueRecords(store).get(entry.id)
    assert done is not None and done.state == EntryState.MERGED
    assert tip(forge, "main") == testing.candidate and tip(forge, queue_branch(testing)) == ""
