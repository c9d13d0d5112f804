"""The agent's GitOps thread: a sync pass every poll interval, and at once when a webhook or a
post-receive hook asks (the wake file, looked for four times a second). The settings are read
from the checkout's lockgate.yml before each pass, so a changed source takes effect without a
restart; a pass's failure is said once, not every interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ...common.errors import UserError
from ...store.gitops import GitopsRecords
from ...workflow.project import GitopsSourceSettings, load_project
from ..service import DeployService
from .sync import GitopsSync, SyncReport, wake_file

LOOK = 0.25  # seconds between looks for the wake file


def configured(service: DeployService) -> GitopsSourceSettings | None:
    """The checkout's `gitops:` settings; None when it has none (or lockgate.yml is broken:
    the CLI says so where it is read)."""
    try:
        return load_project(service.repo).gitops
    except UserError:
        return None


class GitopsWatch:
    def __init__(
        self, service: DeployService, say: Callable[[str], None], stop: threading.Event
    ) -> None:
        self.service, self.say, self.stop = service, say, stop
        self.records = GitopsRecords(service.records.store)
        self.last_said = ""

    def run(self) -> None:
        due = 0.0
        wake = wake_file(self.service.state)
        while not self.stop.is_set():
            settings = (
                configured(self.service) if time.monotonic() >= due or wake.exists() else None
            )
            if settings is not None:
                wake.unlink(missing_ok=True)  # before the pass: a push during it wakes again
                try:
                    self.tell(GitopsSync(self.service, settings, self.records).run())
                except Exception as exc:  # the thread outlives one bad pass; said once
                    self.once(f"gitops pass failed: {exc}")
                due = time.monotonic() + float(settings.interval)
            elif time.monotonic() >= due:
                due = time.monotonic() + 5.0  # not configured: look at lockgate.yml again soon
            self.stop.wait(LOOK)

    def tell(self, report: SyncReport) -> None:
        for action in report.actions:
            self.say(action)
        self.once(report.source.error or report.source.invalid or "")

    def once(self, text: str) -> None:
        if text and text != self.last_said:
            self.say(text)
        self.last_said = text
