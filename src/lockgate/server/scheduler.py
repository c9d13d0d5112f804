"""`on: schedule` for the server. As on GitHub, the schedules in force are those of the latest
commit on a repository's default branch: a worker that ran a push there records them, and the
scheduler queues a `schedule` run of that one workflow whenever its cron expression fires (UTC).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

from ..common import cron
from ..common.errors import UserError
from ..store import Store
from ..store.queue import Queue, Trigger
from ..store.repositories import RepositoryRecords
from ..store.schedules import Schedules
from ..workflow.loader import load_workflow
from .doorbell import Doorbell

POLL = 1.0  # seconds between looks for schedules due


def next_time(expression: str, after: float | None = None) -> float:
    moment = dt.datetime.fromtimestamp(time.time() if after is None else after, dt.UTC)
    return cron.parse(expression).next_after(moment).timestamp()


def schedules_in(checkout: Path) -> list[tuple[str, str]]:
    """(workflow file, cron) of every valid schedule in the checkout's workflows. A workflow
    that does not load is left out: its push run reports why."""
    found: list[tuple[str, str]] = []
    folder = checkout / ".github" / "workflows"
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            model = load_workflow(path, str(path.relative_to(checkout))).model
        except UserError:  # an invalid workflow too
            continue
        for entry in model.on.schedule or []:
            try:
                cron.parse(entry.cron)
            except cron.CronError:
                continue
            found.append((str(path.relative_to(checkout)), entry.cron))
    return found


def default_branch(trigger: Trigger) -> str:
    """The repository's default branch as its forge said (main when it did not say)."""
    payload = trigger.payload
    repository = payload.get("repository") or {}
    project = payload.get("project") or {}  # GitLab
    named = repository.get("default_branch") or project.get("default_branch") or "main"
    return f"refs/heads/{named}"


def record(store: Store, trigger: Trigger, checkout: Path) -> None:
    """After a push to the default branch: its schedules are the repository's now."""
    if trigger.event == "push" and trigger.ref == default_branch(trigger):
        Schedules(store).replace(trigger.repository, trigger.ref, schedules_in(checkout), next_time)


class Scheduler:
    def __init__(self, store: Store, stop: threading.Event, doorbell: Doorbell) -> None:
        self.schedules, self.queue, self.stop = Schedules(store), Queue(store), stop
        self.repositories = RepositoryRecords(store)
        self.doorbell = doorbell

    def loop(self) -> None:
        while not self.stop.is_set():
            self.fire(time.time())
            self.stop.wait(POLL)

    def fire(self, now: float) -> None:
        for due in self.schedules.due(now):
            if self.repositories.matching(due.repository) is None:  # removed since: not run
                self.schedules.advance(due, next_time(due.cron, now))
                continue
            payload = {"schedule": due.cron, "workflow": due.workflow_file,
                       "repository": {"clone_url": due.repository}}  # fmt: skip
            self.queue.enqueue(
                Trigger(
                    "schedule",
                    f"schedule:{due.id}:{due.next_at:.0f}",
                    "schedule",
                    due.repository,
                    due.ref,
                    due.ref,
                    None,
                    payload,
                    due.workflow_file,
                )
            )
            self.schedules.advance(due, next_time(due.cron, now))
            self.doorbell.ring()
