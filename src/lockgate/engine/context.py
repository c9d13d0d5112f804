"""What every job of a run shares: options, store, contexts, the masker, the run directory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..common.gitinfo import RepoInfo
from ..common.processes import children
from ..store import Store
from ..store.testresults import Quarantine, TestRecords, TestResult
from ..workflow.project import Project
from .cache.jobcache import JobCache
from .github import ARCH, GitHubContext
from .masking import Masker
from .placement import JobPlacement
from .recorder import Recorder
from .refs import GitRef, ref_of
from .scheduling import Slots
from .state import Observer, RunOptions


class TestLedger(Protocol):
    """Test results and quarantines: the store's (`store.testresults.TestRecords`), or the
    server's for a job on a worker (`runners.remotetests.RemoteTests`)."""

    def add(self, results: Sequence[TestResult]) -> None: ...
    def of_tests(self, tests: Sequence[str], since: float) -> list[TestResult]: ...
    def quarantine(self, entry: Quarantine) -> None: ...
    def quarantines(self) -> list[Quarantine]: ...


def runner_labels(platforms: dict[str, str]) -> set[str]:
    labels = {"self-hosted", "linux", ARCH.lower(), "local"}
    labels |= {label.lower() for label, target in platforms.items() if target == "local"}
    return labels


def label_matches(label: str, platforms: dict[str, str]) -> bool:
    lowered = label.lower()
    return lowered in runner_labels(platforms) or lowered.startswith("ubuntu-")


@dataclass
class RunContext:
    options: RunOptions
    store: Store
    repo: RepoInfo
    observer: Observer
    state_dir: Path  # <repo>/.lockgate
    project: Project = field(default_factory=Project)  # lockgate.yml
    masker: Masker = field(default_factory=Masker)
    slots: Slots = field(default_factory=lambda: Slots(2))
    cancelled: bool = False  # Ctrl-C or SIGTERM
    job_cache: JobCache | None = None
    placement: JobPlacement | None = None  # jobs run on other machines' workers; else here
    # Called when a job fails; with --fail-fast the runner cancels what is left.
    job_failed: Callable[[], None] = lambda: None
    recorder: Recorder = field(init=False)  # the one writer of job, step and log records
    tests: TestLedger = field(init=False)  # where test results and quarantines are kept
    # This process's children before the run's first job ran; None while no job has run. The
    # orphans steps leave become this process's children (a subreaper): the others are
    # stopped when the run ends. A run whose jobs all come from the cache never lists them.
    children_before: set[int] | None = None

    def __post_init__(self) -> None:
        for value in self.options.secrets.values():
            self.masker.add(value)
        for protection in self.options.protections.values():
            for value in protection.secrets.values():
                self.masker.add(value)
        self.slots = Slots(max(1, self.options.max_jobs))
        self.recorder = Recorder(self.store, self.observer, self.masker)
        self.tests = TestRecords(self.store)

    def job_runs(self) -> None:
        """A job is about to run processes."""
        if self.children_before is None:
            self.children_before = children()

    @property
    def ref(self) -> GitRef:
        return ref_of(self.options.event_name, self.options.event_payload, self.repo.branch)

    def github(
        self, run_id: int, workflow: str, workflow_file: str, job: str = ""
    ) -> GitHubContext:
        return GitHubContext(
            event_name=self.options.event_name,
            event=self.options.event_payload,
            sha=self.repo.sha,
            ref=self.ref,
            repository=self.repo.repository,
            repository_url=f"file://{self.repo.root}",
            actor=self.options.actor,
            workflow=workflow,
            workflow_ref=f"{self.repo.repository}/{workflow_file}@{self.ref.ref}",
            run_id=str(run_id),
            token=self.options.secrets.get("GITHUB_TOKEN", ""),
            job=job,
        )

    def secrets(self) -> dict[str, str]:
        return {"GITHUB_TOKEN": "", **self.options.secrets}


def hash_files(workspace: Path, patterns: tuple[str, ...]) -> str:
    """hashFiles(): sha256 over the sha256 of every matching file, in path order."""
    from .globs import filter_match

    includes = [p for p in patterns if not p.startswith("!")]
    if not includes:
        return ""
    names = sorted(
        str(p.relative_to(workspace))
        for p in workspace.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(workspace).parts
    )
    outer = hashlib.sha256()
    found = False
    for name in names:
        if filter_match(name, [p.removeprefix("./") for p in patterns]):
            outer.update(hashlib.sha256((workspace / name).read_bytes()).digest())
            found = True
    return outer.hexdigest() if found else ""


def host_env() -> dict[str, str]:
    """The runner's own environment, minus what would confuse a step."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
