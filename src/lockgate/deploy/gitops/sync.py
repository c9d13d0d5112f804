"""One GitOps sync pass: fetch the config repository, compare each environment it defines with
what runs, and apply what changed through the deploy service (the normal reconciler, every
strategy), recording the config commit and its author on the deployment.

What a pass applies: a desired state new since the last one applied; with `self-heal`, also a
change made outside git (a hand deploy, an edited environment file); on a manual sync,
anything that differs. Never inside a deny window unless a manual sync overrides it (audited);
never the same failed desired state again before its backoff ends. An unreachable repository
or an invalid commit changes nothing and is reported.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ...common.errors import UserError
from ...store.deployments import RolloutStatus
from ...store.gitops import EnvironmentSync, GitopsRecords, SourceState, SyncStatus
from ...store.overrides import Gate, OverrideRecords
from ...workflow.project import GitopsSourceSettings
from ..environment import DeployRefused
from ..service import DeployService
from ..status import Health
from .compare import Live, differences, normalized
from .layout import DesiredEnvironment, GitopsSettings
from .source import Commit, ConfigRepository, Unreachable
from .windows import closed_by

FIRST_RETRY = 300.0  # seconds before a failed desired state is tried again; doubles, to
LAST_RETRY = 3600.0  # at most an hour. A new commit or a manual sync retries at once.
WAKE = "sync-requested"  # a webhook or a post-receive hook asks for a pass now
FAILED = (RolloutStatus.FAILED, RolloutStatus.ROLLED_BACK)


def wake_file(state: Path) -> Path:
    return state / "gitops" / WAKE


def request_sync(state: Path) -> None:
    """Ask the agent for a pass at once (it looks for this file several times a second)."""
    path = wake_file(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def live_of(service: DeployService, name: str) -> Live:
    """What runs of `name` now: its kept file, its latest rollout, a look at its fleet, and
    the releases changed on disk."""
    if name not in service.names():
        return Live(service.kept_document(name), service.records.latest(name), None)
    return Live(
        service.kept_document(name),
        service.records.latest(name),
        service.status(name),
        service.release_changes(name),
    )


def backoff(failures: int) -> float:
    return float(min(LAST_RETRY, FIRST_RETRY * 2 ** max(0, failures - 1)))


@dataclass(frozen=True)
class SyncRequest:
    manual: bool = False  # a person asked: apply whatever differs
    only: frozenset[str] = frozenset()  # these environments (default: all)
    override: str | None = None  # why a manual sync may pass a deny window (audited)
    actor: str = "gitops"


@dataclass
class SyncReport:
    source: SourceState
    environments: list[EnvironmentSync] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # what the pass did, in words


class GitopsSync:
    def __init__(
        self,
        service: DeployService,
        settings: GitopsSourceSettings,
        records: GitopsRecords,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service, self.records, self.clock = service, records, clock
        self.repository = ConfigRepository(settings, service.state)

    @contextmanager
    def _one_pass(self) -> Iterator[None]:
        """One pass at a time per state directory (the agent's, a manual one)."""
        lock = self.repository.git_dir.parent / "sync.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def state(self) -> SyncReport:
        """Where the source and its environments stood at the last pass; reads only."""
        key = self.repository.key
        source = self.records.source(key) or SourceState(key, 0.0)
        return SyncReport(source, self.records.environments(key))

    def run(self, request: SyncRequest = SyncRequest()) -> SyncReport:
        with self._one_pass():
            return self._run(request)

    def _run(self, request: SyncRequest) -> SyncReport:
        key, now = self.repository.key, self.clock()
        source = self.records.source(key) or SourceState(key, now)
        source.checked_at = now
        report = SyncReport(source)
        try:
            commit = self.repository.fetch()
        except Unreachable as exc:
            source.error = f"cannot fetch {key}: {exc}"
            self.records.save_source(source)
            report.environments = self._unknown(source.error)
            return report
        source.error, source.commit, source.author = None, commit.sha, commit.author
        source.fetched_at = now
        with self.repository.tree(commit) as tree:
            if tree.problems:
                source.invalid = f"commit {commit.sha[:12]} is invalid, nothing of it applied: " + (
                    "; ".join(str(p).replace("\n", " ") for p in tree.problems)
                )
                self.records.save_source(source)
                report.environments = self.records.environments(key)
                return report
            source.invalid = None
            self.records.save_source(source)
            known = set(tree.environments) | {e.environment for e in self.records.environments(key)}
            unknown = sorted(request.only - known)
            if unknown:
                raise UserError(
                    f"no environment {unknown[0]!r} in {key} at {commit.sha[:12]}",
                    where="ENV",
                    hint=f"its environments: {', '.join(sorted(known)) or 'none'}",
                )
            # removed first: a renamed environment's router port is free before it is wanted
            for kept in self.records.environments(key):
                gone = kept.environment not in tree.environments
                if gone and (not request.only or kept.environment in request.only):
                    self._removed(kept, tree.settings, commit, request, report)
            wanted = [
                d for n, d in tree.environments.items() if not request.only or n in request.only
            ]
            for desired in wanted:
                report.environments.append(
                    self._environment(desired, tree.settings, commit, request, report)
                )
        return report

    # -- one environment ---------------------------------------------------------------------
    def _live(self, name: str) -> Live:
        return live_of(self.service, name)

    def _environment(
        self,
        desired: DesiredEnvironment,
        settings: GitopsSettings,
        commit: Commit,
        request: SyncRequest,
        report: SyncReport,
    ) -> EnvironmentSync:
        name, now = desired.name, self.clock()
        kept = self.records.environment(name)
        # new: git wants other than what was last tried (its `digest` and `document`)
        new = kept is None or (kept.digest, kept.document) != (desired.digest, desired.document)
        sync = kept or EnvironmentSync(
            name,
            self.repository.key,
            commit.sha,
            desired.digest,
            desired.document,
            SyncStatus.OUT_OF_SYNC,
            now,
        )
        sync.source, sync.commit, sync.checked_at, sync.in_git = (
            self.repository.key,
            commit.sha,
            now,
            True,
        )
        live = self._live(name)
        found = differences(desired.digest, desired.document, live)
        self._note_failure(sync, live, desired, now)
        sync.message = None
        wants = bool(found) and (new or settings.sync.self_heal or request.manual)
        closed = closed_by(settings.sync.windows, name, now)
        backing_off = sync.failed_commit is not None and (sync.retry_at or 0) > now
        if wants and backing_off and not new and not request.manual:
            wants = False
            sync.message = (
                f"the rollout of {str(sync.failed_commit)[:12]} failed; not retried before "
                f"{time.strftime('%H:%M:%S', time.localtime(sync.retry_at))} (a new commit "
                "or `lockgate gitops sync` retries now)"
            )
        passed = self._window_passed(name, request) if closed is not None else None
        if wants and closed is not None and passed is None:
            wants = False
            sync.message = f"{closed.describe()} blocks syncs" + (
                "; a manual sync needs --override REASON" if request.manual else ""
            )
        if wants:
            self._apply(sync, desired, commit, request, new, passed, report, live)
            live = self._live(name)
            found = differences(desired.digest, desired.document, live)
        elif not found:
            sync.applied_commit, sync.digest, sync.document = (
                commit.sha,
                desired.digest,
                desired.document,
            )
        sync.differences = found
        sync.sync = SyncStatus.OUT_OF_SYNC if found else SyncStatus.SYNCED
        sync.health = self._health(sync, live)
        self.records.save(sync)
        return sync

    def _note_failure(
        self, sync: EnvironmentSync, live: Live, desired: DesiredEnvironment, now: float
    ) -> None:
        """The rollout gitops started for this desired state failed: back off from it."""
        rollout = live.rollout
        failed = (
            rollout is not None
            and rollout.config_commit is not None
            and rollout.digest == desired.digest
            and rollout.status in FAILED
        )
        if failed and sync.retry_at is None and rollout is not None:
            sync.failed_commit = rollout.config_commit
            sync.failures += 1
            sync.retry_at = now + backoff(sync.failures)
        elif rollout is not None and rollout.status == RolloutStatus.SUCCEEDED:
            sync.failed_commit, sync.failures, sync.retry_at = None, 0, None

    def _apply(
        self,
        sync: EnvironmentSync,
        desired: DesiredEnvironment,
        commit: Commit,
        request: SyncRequest,
        new: bool,
        window_passed: str | None,  # inside a deny window: who let it through, and why
        report: SyncReport,
        live: Live,
    ) -> None:
        name, events = desired.name, self.service.records
        sync.digest, sync.document = desired.digest, desired.document  # tried, come what may
        why = "new in git" if new else ("manual sync" if request.manual else "self-heal")
        actor = f"gitops ({why}{f' by {request.actor}' if request.manual else ''})"
        if window_passed is not None:
            events.add_event(name, f"gitops: sync inside a deny window, {window_passed}", None)
        try:
            kept = live.document
            rewrite = kept is None or normalized(kept) != normalized(desired.document)
            latest = live.rollout
            redeploy = latest is None or latest.intended != desired.digest
            if rewrite or redeploy:  # asked before the file is written: a refusal changes nothing
                refusal = self.service.refusal(
                    name, desired.spec, desired.digest, actor, action="deploy"
                )
                if refusal is not None:
                    events.add_event(name, f"gitops: {refusal}", None)
                    raise DeployRefused(refusal)
            if rewrite:
                self.service.adopt(name, desired.document)
                events.add_event(
                    name, f"gitops: {why}: environment file of {commit.sha[:12]} written", None
                )
                report.actions.append(f"{name}: environment file written ({why})")
            if redeploy:
                rollout = self.service.deploy_adopted(
                    name, desired.digest, actor, commit.sha, commit.author
                )
                report.actions.append(
                    f"{name}: deploying {desired.digest[:12]} ({why}, deployment {rollout.id})"
                )
            elif live.altered:
                slots = sorted(live.altered)
                self.service.condemn(name, set(slots))
                said = (
                    f"replacing instance(s) {', '.join(map(str, slots))}: release changed on disk"
                )
                events.add_event(name, f"gitops: {why}: {said}", None)
                report.actions.append(f"{name}: {said} ({why})")
        except (UserError, DeployRefused) as exc:
            sync.failed_commit = commit.sha
            sync.failures = 1 if new else sync.failures + 1  # backoff grows per desired state
            sync.retry_at = self.clock() + backoff(sync.failures)
            sync.message = f"cannot apply {commit.sha[:12]}: {exc}".replace("\n", " ")
            report.actions.append(f"{name}: {sync.message}")
            return
        sync.applied_commit = commit.sha
        sync.retry_at = None  # tried again: backed off again if it fails (from `failures`)
        if new:
            sync.failed_commit, sync.failures = None, 0

    def _window_passed(self, name: str, request: SyncRequest) -> str | None:
        """Who lets a sync through a closed deny window, and why: a manual sync's
        `--override REASON`, or a break-glass override of the window; None: nobody."""
        if request.manual and request.override:
            return f"overridden by {request.actor}: {request.override}"
        now = self.clock()
        found = OverrideRecords(self.service.records.store).covering(name, Gate.WINDOW, now)
        return f"let through by {found.describe(now)}" if found else None

    def _health(self, sync: EnvironmentSync, live: Live) -> str:
        rollout = live.rollout
        if sync.failed_commit is not None and sync.retry_at is not None:  # backing off
            said = rollout.message if rollout is not None and rollout.message else ""
            sync.message = (
                sync.message or f"the rollout of {sync.failed_commit[:12]} failed: {said}"
            )
            return Health.DEGRADED.value
        if live.view is None:
            return Health.PROGRESSING.value if rollout is not None else "missing"
        return live.view.health.value

    def _removed(
        self,
        kept: EnvironmentSync,
        settings: GitopsSettings,
        commit: Commit,
        request: SyncRequest,
        report: SyncReport,
    ) -> None:
        name, now = kept.environment, self.clock()
        closed = closed_by(settings.sync.windows, name, now)
        blocked = closed is not None and self._window_passed(name, request) is None
        if settings.sync.prune and not blocked:
            if name in self.service.names():
                self.service.down(name, f"gitops (pruned in {commit.sha[:12]})")
                self.service.forget(name)
            self.service.records.add_event(
                name, f"gitops: pruned: removed from git in {commit.sha[:12]}", None
            )
            self.records.forget(name)
            report.actions.append(f"{name}: pruned (removed from git in {commit.sha[:12]})")
            return
        kept.in_git, kept.sync, kept.checked_at, kept.commit = (
            False,
            SyncStatus.OUT_OF_SYNC,
            now,
            commit.sha,
        )
        kept.message = f"removed from git in {commit.sha[:12]}; still running: " + (
            f"{closed.describe()} blocks the prune" if closed else "prune is off"
        )
        self.records.save(kept)
        report.environments.append(kept)

    def _unknown(self, why: str) -> list[EnvironmentSync]:
        """The repository cannot be read: every environment's sync is unknown; nothing changes."""
        found = []
        for kept in self.records.environments(self.repository.key):
            kept.sync, kept.checked_at = SyncStatus.UNKNOWN, self.clock()
            applied = kept.applied_commit[:12] if kept.applied_commit else "none"
            kept.message = f"{why} (last applied: {applied})"
            self.records.save(kept)
            found.append(kept)
        return found
