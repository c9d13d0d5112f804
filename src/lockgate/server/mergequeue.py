"""The merge queue, as bors and GitHub's merge queue run one: a protected branch only ever moves
to a merge commit that passed its required workflows.

Each change (a branch of a registered bare repository) is merged onto the target's tip plus
the changes ahead of it (`git merge-tree`, no working tree), and that commit is tested: a
`merge_group` run of the workflows that declare it, on a branch `lockgate-queue/TARGET/ID`.
Up to `depth` changes are tested at once, each on the one ahead. The first change, once
green, moves the target to its merge commit (a compare-and-swap: a target that moved meanwhile
makes every candidate be built again). A red change, or one that conflicts, leaves the queue
with the reason; those behind it were built on it, so they are built and tested again without
it. Direct pushes to the target are refused by the pre-receive hook `hook install --protect`
writes."""

from __future__ import annotations

import subprocess
import threading
import uuid
from pathlib import Path

from ..common.errors import UserError
from ..store import Store
from ..store.mergequeue import EntryState, MergeEntry, MergeQueueRecords
from ..store.queue import Queue, QueueStatus, Trigger
from ..store.repositories import ForgeKind, RepositoryRecords
from .doorbell import Doorbell

POLL = 0.5  # seconds between passes


class MergeConflict(Exception):
    """The change does not merge onto what is ahead of it."""


def git(bare: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", "-C", str(bare), *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip() if done.returncode == 0 else ""


def tip(bare: Path, branch: str) -> str:
    return git(bare, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False)


def merged(bare: Path, base: str, entry: MergeEntry) -> str:
    """The merge commit of `entry`'s head onto `base`, made in the bare repository."""
    done = subprocess.run(
        ["git", "-C", str(bare), "merge-tree", "--write-tree", "--name-only", base, entry.head],
        capture_output=True,
        text=True,
    )
    if done.returncode == 1:
        files = done.stdout.split("\n\n", 1)[0].splitlines()[1:]
        raise MergeConflict(f"it conflicts with {entry.target} and the changes ahead of it"
                            + (f" in {', '.join(files[:5])}" if files else ""))  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"git merge-tree: {done.stderr.strip()}")
    tree = done.stdout.splitlines()[0]
    message = f"Merge {entry.branch} into {entry.target} (merge queue #{entry.id})"
    identity = ["-c", "user.name=lockgate merge queue", "-c", "user.email=merge-queue@lockgate"]
    return git(bare, *identity, "commit-tree", tree, "-p", base, "-p", entry.head, "-m", message)


def add_change(store: Store, repository: str, branch: str, target: str, by: str) -> MergeEntry:
    """Queue `branch` of a registered bare repository for `target`; UserError saying what is
    wrong (an unknown repository or branch) and nothing is queued."""
    found = RepositoryRecords(store).matching(repository)
    if found is None or found.forge != ForgeKind.GIT:
        raise UserError(
            f"{repository} is not a bare repository this server runs",
            where="--repository",
            hint="register it with `lockgate hook install PATH --protect TARGET`",
        )
    bare = Path(found.source)
    for name, what in ((branch, "BRANCH"), (target, "--target")):
        if name.startswith("-") or not tip(bare, name):
            raise UserError(f"{bare} has no branch {name!r}", where=what,
                            hint="push the branch first (`git push origin BRANCH`)")  # fmt: skip
    if branch == target:
        raise UserError(f"{branch} is the branch the queue merges into", where="BRANCH")
    return MergeQueueRecords(store).add(found.source, branch, target, tip(bare, branch), by)


def queue_branch(entry: MergeEntry) -> str:
    return f"lockgate-queue/{entry.target}/{entry.id}"


class MergeQueue:
    def __init__(self, store: Store, stop: threading.Event, doorbell: Doorbell, depth: int) -> None:
        self.records, self.queue = MergeQueueRecords(store), Queue(store)
        self.store, self.stop, self.doorbell, self.depth = store, stop, doorbell, max(1, depth)

    def loop(self) -> None:
        while not self.stop.is_set():
            for repository, target in self.records.lanes():
                try:
                    self.advance(repository, target)
                except (RuntimeError, OSError) as exc:  # a lane's git trouble stops that lane
                    print(f"merge queue {repository} {target}: {exc}", flush=True)
            self.stop.wait(POLL)

    def advance(self, repository: str, target: str) -> None:
        """One pass over a lane: read the finished tests, drop what failed, merge what leads
        and passed, and test what the window has room for."""
        bare = Path(repository)
        entries = self.records.active(repository, target)
        for index, entry in enumerate(entries):
            if entry.state == EntryState.TESTING and not self.settle(entry):
                self.rebuild(entries[index + 1 :])  # built on a red change: again, without it
                return
        entries = self.records.active(repository, target)
        current = tip(bare, target)
        if entries and entries[0].candidate == current:  # moved, then the server died
            self.records.change(entries[0].id, state=EntryState.MERGED)
            git(bare, "update-ref", "-d", f"refs/heads/{queue_branch(entries[0])}", check=False)
            entries = entries[1:]
        expected = current  # each candidate must stand on the one ahead: else built again
        for index, entry in enumerate(entries):
            if entry.candidate is None:
                break
            if entry.base != expected:  # the target moved, or a change ahead was removed
                self.rebuild(entries[index:])
                return
            expected = entry.candidate
        head = entries[0] if entries else None
        if head is not None and head.state == EntryState.PASSED:
            # compare-and-swap: only from the tip it was built on
            move = ["update-ref", f"refs/heads/{target}", str(head.candidate), current]
            swapped = subprocess.run(["git", "-C", str(bare), *move], capture_output=True)
            if swapped.returncode != 0:
                self.rebuild(entries)
                return
            self.records.change(head.id, state=EntryState.MERGED)
            git(bare, "update-ref", "-d", f"refs/heads/{queue_branch(head)}", check=False)
            entries, current = entries[1:], str(head.candidate)
        base = current
        for entry in entries[: self.depth]:  # each on the one ahead of it
            made = entry.candidate or self.test(bare, base, entry)
            if made is None:
                return  # it left the queue: the next pass goes on without it
            base = made

    def settle(self, entry: MergeEntry) -> bool:
        """A change under test whose run ended: passed when every workflow it ran was green.
        False when it failed (and left the queue)."""
        item = self.queue.get(entry.queued_run) if entry.queued_run else None
        if item is None or item.status not in (QueueStatus.DONE, QueueStatus.INTERRUPTED):
            return True
        runs = self.store.runs_of_trigger(item.id)
        if item.exit_code == 0 and runs:
            self.records.change(entry.id, state=EntryState.PASSED)
            return True
        if item.exit_code == 0:
            reason = ("no workflow runs on merge_group: add `merge_group` to the `on:` of the "
                      "workflows that must pass")  # fmt: skip
        elif runs:
            reason = f"its merge commit failed (run {', '.join(map(str, runs))})"
        else:
            reason = f"its merge commit could not run: {item.message}"
        self.fail(entry, reason)
        return False

    def fail(self, entry: MergeEntry, reason: str) -> None:
        self.records.change(entry.id, state=EntryState.FAILED, reason=reason)
        git(Path(entry.repository), "update-ref", "-d", f"refs/heads/{queue_branch(entry)}",
            check=False)  # fmt: skip

    def rebuild(self, entries: list[MergeEntry]) -> None:
        """Test these again from scratch: what they were merged onto changed."""
        for entry in entries:
            if entry.queued_run is not None:
                self.queue.cancel(entry.queued_run)
            self.records.change(entry.id, state=EntryState.QUEUED, base=None, candidate=None,
                                queued_run=None)  # fmt: skip

    def test(self, bare: Path, base: str, entry: MergeEntry) -> str | None:
        """Merge `entry` onto `base` and queue its test: the merge commit, or None when it
        does not merge (it leaves the queue)."""
        try:
            commit = merged(bare, base, entry)
        except MergeConflict as exc:
            self.fail(entry, str(exc))
            return None
        branch = queue_branch(entry)
        git(bare, "update-ref", f"refs/heads/{branch}", commit)
        payload = {
            "action": "checks_requested",
            "merge_group": {"head_sha": commit, "head_ref": f"refs/heads/{branch}",
                            "base_sha": base, "base_ref": f"refs/heads/{entry.target}",
                            "head_commit": {"id": commit}},
            "sender": {"login": entry.added_by},
        }  # fmt: skip
        delivery = f"merge-queue:{entry.id}:{uuid.uuid4()}"
        trigger = Trigger("queue", delivery, "merge_group", entry.repository,
                          f"refs/heads/{branch}", commit, base, payload)  # fmt: skip
        item, _ = self.queue.enqueue(trigger)
        self.doorbell.ring()
        self.records.change(entry.id, state=EntryState.TESTING, base=base, candidate=commit,
                            queued_run=item.id)  # fmt: skip
        return commit
