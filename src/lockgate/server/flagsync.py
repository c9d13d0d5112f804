"""lockgate serve follows the flags of the config repository it follows (`flags.yaml` beside
`environments/`): at each commit the agent fetches, and after each change made by hand, a
pass brings the flags to the file (lockgate.flags.reconcile). The last pass's report is what
the flags page and `GET /api/v1/flags/sync` show. A broken flags.yaml stops only itself."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import APIRouter, Request

from ..common.errors import UserError
from ..deploy.gitops.source import Commit, ConfigRepository
from ..flags.desired import DesiredFlags, read_flags
from ..flags.reconcile import FlagsReconciler, Reconciled
from ..flags.service import FlagService
from ..store.flagsync import FlagSyncRecords
from ..store.gitops import GitopsRecords
from .auth import Viewer
from .environments import Environments

router = APIRouter()
PASS_EVERY = 2.0  # seconds between looks at the fetched commit and the flags' revision


@dataclass(frozen=True)
class FlagsAt:
    """flags.yaml of one commit, read: the desired flags, or why there are none."""

    commit: str
    desired: DesiredFlags | None
    self_heal: bool  # the repository's lockgate-gitops.yaml sync policy
    problems: list[str]


@dataclass
class FlagSyncReport:
    source: str
    commit: str
    at: float
    file: str = ""  # flags.yaml as read (commit:path), empty when the commit has none
    result: Reconciled = field(default_factory=Reconciled)


class FlagSync:
    def __init__(self, environments: Environments, service: FlagService) -> None:
        self.environments, self.service = environments, service
        self.records = FlagSyncRecords(environments.records.store)
        self.report: FlagSyncReport | None = None
        self.seen: tuple[str, int] | None = None  # (commit, flags revision) of the last pass
        self.read: FlagsAt | None = None  # kept until the agent fetches another commit

    def once(self) -> None:
        repository = self.environments.config_repository()
        if repository is None:
            return
        state = GitopsRecords(self.environments.records.store).source(repository.key)
        if state is None or state.commit is None:
            return  # the agent has fetched nothing yet
        looked = (state.commit, self.service.records.revision())
        if looked == self.seen:
            return
        if self.read is None or self.read.commit != state.commit:
            self.read = _read(repository, state.commit)
        read, commit = self.read, state.commit
        report = FlagSyncReport(repository.key, commit, time.time())
        if read.desired is None:
            report.result.problems = read.problems
        else:
            report.file = read.desired.display
            reconciler = FlagsReconciler(self.service, self.records, repository.key)
            report.result = reconciler.run(read.desired, commit, f"gitops {commit[:12]}",
                                           apply=True, self_heal=read.self_heal)  # fmt: skip
        self.report = report
        self.seen = (state.commit, self.service.records.revision())

    def loop(self, stop: threading.Event) -> None:
        while not stop.wait(PASS_EVERY):
            try:
                self.once()
            except Exception as exc:  # the thread outlives one bad pass; the report says why
                failed = Reconciled(problems=[f"flag sync: {exc}"])
                self.report = FlagSyncReport("", "", time.time(), result=failed)


def _read(repository: ConfigRepository, sha: str) -> FlagsAt:
    with repository.tree(Commit(sha, "", "")) as tree:
        problems = [str(p).replace("\n", " ") for p in tree.flags_problems]
        if problems or tree.flags is None:
            return FlagsAt(sha, None, False, problems)
        try:
            desired = read_flags(tree.flags, tree.flags_file)
        except UserError as exc:
            return FlagsAt(sha, None, False, [str(exc).replace("\n", " ")])
        return FlagsAt(sha, desired, tree.settings.sync.self_heal, [])


@router.get("/api/v1/flags/sync")
def shown(request: Request, _: Viewer) -> dict[str, Any]:
    """The last pass over the config repository's flags.yaml (empty when none is followed)."""
    report: FlagSyncReport | None = request.app.state.flag_sync.report
    return asdict(report) if report is not None else {}
