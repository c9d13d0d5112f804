"""The merge queue, as bors and GitHub's merge queue run one: a protected branch only ever moves
to a merge commit that passed its required workflows.

Each change (a branch of a registered bare repository, or a pull request of a registered
GitHub or Gitea repository: `server/lanes.py`) is merged onto the target's tip plus
the changes ahead of it (`git merge-tree`, no working tree), and that commit is tested: a
`merge_group` run of the workflows that declare it, on a branch `lockgate-queue/TARGET/ID`.
Up to `depth` changes are tested at once, each on the one ahead. The first change, once
green, moves the target to its merge commit (a compare-and-swap: a target that moved meanwhile
makes every candidate be built again). A red change, or one that conflicts, leaves the queue
with the reason; those behind it were built on it, so they are built and tested again without
it. Direct pushes to the target are refused by the pre-receive hook `hook install --protect`
writes; on a forge, a branch rule requiring the `lockgate/merge-queue` status the queue sets
on each pull request does it."""

from __future__ import annotations

import re
import subprocess
import threading
import uuid
from pathlib import Path

from ..common.errors import UserError
from ..store import Store
from ..store.mergequeue import EntryState, MergeEntry, MergeQueueRecords
from ..store.queue import Queue, QueueStatus, Trigger
from ..store.repositories import ForgeKind, Repository, RepositoryRecords
from .doorbell import Doorbell
from .lanes import Lane, Lanes, git, tip
from .pullrequests import ForgeTrouble, PullRequest, pull_of
from .queuecommands import Enter, Leave

POLL = 0.5  # seconds between passes
BRANCH = re.compile(r"(?!-)[^\s~^:?*\[\\]+")  # a branch name git takes, near enough


class MergeConflict(Exception):
    """The change does not merge onto what is ahead of it."""


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
    what = f"#{entry.pull} ({entry.branch})" if entry.pull else entry.branch
    message = f"Merge {what} into {entry.target} (merge queue #{entry.id})"
    identity = ["-c", "user.name=lockgate merge queue", "-c", "user.email=merge-queue@lockgate"]
    return git(bare, *identity, "commit-tree", tree, "-p", base, "-p", entry.head, "-m", message)


def registered(store: Store, repository: str) -> Repository:
    found = RepositoryRecords(store).matching(repository)
    if found is None:
        raise UserError(
            f"{repository} is not a repository this server runs",
            where="--repository",
            hint="register it with `lockgate hook install PATH --protect TARGET` (a bare "
            "repository) or `lockgate repo add URL --forge github|gitea`",
        )
    return found


def add_change(store: Store, repository: str, branch: str, target: str, by: str) -> MergeEntry:
    """Queue `branch` of a registered bare repository for `target`; UserError saying what is
    wrong (an unknown repository or branch) and nothing is queued."""
    found = registered(store, repository)
    if found.forge != ForgeKind.GIT:
        raise UserError(
            f"{repository} is a {found.forge.value} repository: its pull requests are queued, "
            "not its branches",
            where="BRANCH",
            hint="label the pull request `merge-queue`, comment `/merge` on it, or POST "
            '/api/v1/merge-queue {"repository": ..., "pull": N}',
        )
    bare = Path(found.source)
    for name, what in ((branch, "BRANCH"), (target, "--target")):
        if name.startswith("-") or not tip(bare, name):
            raise UserError(f"{bare} has no branch {name!r}", where=what,
                            hint="push the branch first (`git push origin BRANCH`)")  # fmt: skip
    if branch == target:
        raise UserError(f"{branch} is the branch the queue merges into", where="BRANCH")
    return MergeQueueRecords(store).add(found.source, branch, target, tip(bare, branch), by)


def add_pull(lanes: Lanes, registration: Repository, pull: PullRequest, by: str) -> MergeEntry:
    """Queue a forge's open pull request for its base branch; the entry it already has if it is
    queued with the same head. UserError when it is closed."""
    if not pull.open:
        raise UserError(f"{registration.full_name}#{pull.number} is closed", where="pull")
    if not BRANCH.fullmatch(pull.base_ref) or not re.fullmatch(r"[0-9a-f]{40,64}", pull.head_sha):
        raise UserError(f"{registration.full_name}#{pull.number} names a base branch or head "
                        "lockgate cannot use", where="pull")  # fmt: skip
    records = MergeQueueRecords(lanes.store)
    queued = records.of_pull(registration.source, pull.number)
    if queued is not None and queued.head == pull.head_sha:
        return queued
    if queued is not None:  # pushed to since: tested again from its new head
        leave(lanes, queued, "queued again with new commits")
    return records.add(registration.source, pull.head_ref, pull.base_ref, pull.head_sha, by,
                       pull=pull.number)  # fmt: skip


def remove_pull(lanes: Lanes, registration: Repository, number: int, reason: str) -> bool:
    """Take a pull request out of the queue (closed, pushed to, unlabelled); False if it was
    not in it."""
    queued = MergeQueueRecords(lanes.store).of_pull(registration.source, number)
    if queued is not None:
        leave(lanes, queued, reason)
    return queued is not None


def obey(lanes: Lanes, registration: Repository, command: Enter | Leave) -> str:
    """Carry out what a forge's delivery asked of the queue; what happened. UserError when the
    pull request cannot be queued, ForgeTrouble when the forge cannot be asked."""
    if isinstance(command, Leave):
        if remove_pull(lanes, registration, command.number, command.reason):
            return f"#{command.number} left the merge queue: {command.reason}"
        return f"#{command.number} is not in the merge queue"
    entry = enter(lanes, registration, command.number, command.by, command.pull)
    return f"#{command.number} is in the merge queue as #{entry.id} (into {entry.target})"


def enter(lanes: Lanes, registration: Repository, number: int, by: str,
          pull: PullRequest | None = None) -> MergeEntry:  # fmt: skip
    """Queue pull request `number`, as the forge has it now unless the delivery said."""
    if pull is None:
        assert registration.full_name is not None
        pull = pull_of(lanes.forge(registration), registration.full_name, number)
    if pull is None:
        raise UserError(f"{registration.full_name} has no pull request #{number}")
    return add_pull(lanes, registration, pull, by)


def leave(lanes: Lanes, entry: MergeEntry, reason: str) -> None:
    """Take `entry` out of the queue: its test is cancelled, its branch deleted, the change
    told why, and the changes behind it, built on it, are tested again without it."""
    store = lanes.store
    records = MergeQueueRecords(store)
    behind = [e for e in records.active(entry.repository, entry.target) if e.id > entry.id]
    records.change(entry.id, state=EntryState.FAILED, reason=reason)
    if entry.queued_run is not None:
        Queue(store).cancel(entry.queued_run)
    rebuild(store, behind)
    try:
        lane = lanes.of(entry.repository)
    except ForgeTrouble:
        return  # nothing to tell: the store says it
    lane.withdraw(queue_branch(entry))
    lane.tell(entry, "error", f"left the merge queue: {reason}")


def rebuild(store: Store, entries: list[MergeEntry]) -> None:
    """Test these again from scratch: what they were merged onto changed."""
    records, queue = MergeQueueRecords(store), Queue(store)
    for entry in entries:
        if entry.queued_run is not None:
            queue.cancel(entry.queued_run)
        records.change(entry.id, state=EntryState.QUEUED, base=None, candidate=None,
                       queued_run=None)  # fmt: skip


def queue_branch(entry: MergeEntry) -> str:
    return f"lockgate-queue/{entry.target}/{entry.id}"


class MergeQueue:
    def __init__(self, lanes: Lanes, stop: threading.Event, doorbell: Doorbell, depth: int) -> None:
        store = lanes.store
        self.records, self.queue = MergeQueueRecords(store), Queue(store)
        self.store, self.stop, self.doorbell, self.depth = store, stop, doorbell, max(1, depth)
        self.lanes = lanes

    def loop(self) -> None:
        while not self.stop.is_set():
            for repository, target in self.records.lanes():
                try:
                    self.advance(self.lanes.of(repository), repository, target)
                except (RuntimeError, OSError, ForgeTrouble) as exc:  # that lane waits
                    print(f"merge queue {repository} {target}: {exc}", flush=True)
            self.stop.wait(POLL)

    def advance(self, lane: Lane, repository: str, target: str) -> None:
        """One pass over a lane: read the finished tests, drop what failed, merge what leads
        and passed, and test what the window has room for."""
        entries = self.records.active(repository, target)
        for index, entry in enumerate(entries):
            if entry.state == EntryState.TESTING and not self.settle(lane, entry):
                self.rebuild(entries[index + 1 :])  # built on a red change: again, without it
                return
        entries = self.records.active(repository, target)
        window = entries[: self.depth]
        if not entries or not (entries[0].state == EntryState.PASSED
                               or any(e.state == EntryState.QUEUED for e in window)):  # fmt: skip
            return  # nothing to merge or start: the lane's git is not even read
        stale = lane.sync(target, entries)
        for index, entry in enumerate(entries):
            if entry.id in stale:
                self.fail(lane, entry, stale[entry.id])
                self.rebuild(entries[index + 1 :])
                return
        current = lane.tip(target)
        if entries[0].candidate == current:  # moved, then the server died
            self.merged(lane, entries[0])
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
            assert head.candidate is not None
            if not lane.move(head, head.candidate, current):  # only from the tip it was built on
                self.rebuild(entries)
                return
            self.merged(lane, head)
            entries, current = entries[1:], head.candidate
        base = current
        for entry in entries[: self.depth]:  # each on the one ahead of it
            made = entry.candidate or self.test(lane, base, entry)
            if made is None:
                return  # it left the queue: the next pass goes on without it
            base = made

    def settle(self, lane: Lane, entry: MergeEntry) -> bool:
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
        self.fail(lane, entry, reason)
        return False

    # The change is told, and its branch deleted, before its state is recorded: a server that
    # dies in between finds it where it was and ends it again, so nothing goes untold.
    def merged(self, lane: Lane, entry: MergeEntry) -> None:
        lane.withdraw(queue_branch(entry))
        lane.tell(entry, "success", f"merged into {entry.target} as {str(entry.candidate)[:12]}")
        self.records.change(entry.id, state=EntryState.MERGED)

    def fail(self, lane: Lane, entry: MergeEntry, reason: str) -> None:
        lane.withdraw(queue_branch(entry))
        lane.tell(entry, "failure", f"left the merge queue: {reason}", comment=True)
        self.records.change(entry.id, state=EntryState.FAILED, reason=reason)

    def rebuild(self, entries: list[MergeEntry]) -> None:
        rebuild(self.store, entries)

    def test(self, lane: Lane, base: str, entry: MergeEntry) -> str | None:
        """Merge `entry` onto `base` and queue its test: the merge commit, or None when it
        does not merge (it leaves the queue)."""
        try:
            commit = merged(lane.git_dir, base, entry)
        except MergeConflict as exc:
            self.fail(lane, entry, str(exc))
            return None
        branch = queue_branch(entry)
        lane.publish(branch, commit)
        source, url, about = lane.where()
        payload = {
            "action": "checks_requested",
            "merge_group": {"head_sha": commit, "head_ref": f"refs/heads/{branch}",
                            "base_sha": base, "base_ref": f"refs/heads/{entry.target}",
                            "head_commit": {"id": commit}},
            "sender": {"login": entry.added_by},
            **about,
        }  # fmt: skip
        delivery = f"merge-queue:{entry.id}:{uuid.uuid4()}"
        trigger = Trigger(source, delivery, "merge_group", url, f"refs/heads/{branch}", commit,
                          base, payload)  # fmt: skip
        item, _ = self.queue.enqueue(trigger)
        self.doorbell.ring()
        self.records.change(entry.id, state=EntryState.TESTING, base=base, candidate=commit,
                            queued_run=item.id)  # fmt: skip
        lane.tell(entry, "pending", f"testing as merged into {entry.target}")
        return commit
