"""Held jobs on the server: the protected environments' rules a run is given (their secrets
kept in 0600 files of the home), the reviews a run's held jobs wait for, and the queued run
that goes on with them once a reviewer approved or the wait timer ran out. A held job holds
no worker: its run's process ends, and the run that goes on takes the jobs that ended from
it and runs the held ones."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from pathlib import Path

from ..common.errors import UserError
from ..common.names import checked_name
from ..store.protections import (
    ProtectionRecord,
    ProtectionRecords,
    Review,
    ReviewRecords,
)
from ..store.queue import Trigger
from ..store.records import RunRecord, Status
from .reruns import top_level
from .runjob import HeldJob, ProtectionSpec

SECRETS = "environment-secrets"  # in the server's home: one 0600 file an environment


def secret_file(home: Path, environment: str) -> Path:
    return home / SECRETS / checked_name(environment, "environment", "ENVIRONMENT")


def keep_secrets(home: Path, environment: str, text: str) -> None:
    """An environment's NAME=value secrets, in a 0600 file of the server's home."""
    folder = home / SECRETS
    folder.mkdir(mode=0o700, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    with os.fdopen(os.open(secret_file(home, environment), flags, 0o600), "w") as out:
        out.write(text)


def specs(records: ProtectionRecords, home: Path) -> list[ProtectionSpec]:
    """Every protected environment, as a run is given them."""
    return [
        ProtectionSpec(
            environment=p.environment, reviewers=list(p.reviewers), wait_seconds=p.wait_seconds,
            branches=list(p.branches), vars=p.vars,
            secret_file=secret_file(home, p.environment) if p.has_secrets else None,
        )
        for p in records.all()
    ]  # fmt: skip


def checked(record: ProtectionRecord) -> ProtectionRecord:
    """A rule that protects something, naming reviewers as tokens are named; UserError if not."""
    for reviewer in record.reviewers:
        checked_name(reviewer, "reviewer", "--reviewer")
    if not (record.reviewers or record.wait_seconds or record.branches or record.vars
            or record.has_secrets):  # fmt: skip
        raise UserError(
            f"a protection of {record.environment} names no reviewer, wait, branch, secret or "
            "variable: it would protect nothing",
            hint="give --reviewer NAME (a token's name), --wait, --branch or --secret-file",
        )
    if record.wait_seconds < 0 or record.wait_seconds > 30 * 24 * 3600:
        raise UserError("the wait must be between 0 and 30 days (GitHub's limit)")
    return record


def open_reviews(reviews: ReviewRecords, held: list[HeldJob]) -> list[Review]:
    """One review per run and environment for the jobs a run's process left held."""
    grouped: dict[tuple[int, str], list[HeldJob]] = {}
    for job in held:
        grouped.setdefault((job.run_id, job.environment), []).append(job)
    opened = []
    for (run_id, env), jobs in grouped.items():
        ids = sorted({job.job_id for job in jobs})
        opened.append(
            reviews.open(run_id, env, ids, tuple(jobs[0].reviewers), jobs[0].wait_seconds)
        )
    return opened


def held_with(run: RunRecord, review: Review) -> list[str]:
    """The review's jobs and the waiting jobs that need them, however indirectly: what goes
    on once it is decided (jobs held for another environment keep waiting)."""
    waiting = {
        top_level(j.key, j.job_id): set(j.needs or ())
        for j in run.jobs
        if j.status == Status.WAITING and " / " not in j.key
    }
    chosen = set(review.jobs)
    grew = True
    while grew:
        more = {job for job, needs in waiting.items() if needs & chosen} - chosen
        chosen |= more
        grew = bool(more)
    return sorted(chosen)


def going_on(trigger: Trigger, run: RunRecord, review: Review, approved_by: str | None) -> Trigger:
    """The queued run that goes on with a review's held jobs: the jobs that ended taken from
    the run, this environment cleared (its timer served by the queue: it starts no earlier)."""
    cleared = {**(trigger.clearances or {}),
               review.environment: {"approved_by": approved_by, "waited": True}}  # fmt: skip
    return dataclasses.replace(
        trigger,
        delivery=f"review:{review.id}:{uuid.uuid4()}",
        workflow=run.workflow_file,
        jobs=held_with(run, review),
        continues=run.id,
        clearances=cleared,
        not_before=time.time() + review.wait_seconds if review.wait_seconds else None,
    )
