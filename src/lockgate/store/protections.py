"""Protected environments' rules and the reviews held jobs wait for, as typed records."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from . import tables as t
from .database import Store


@dataclass(frozen=True)
class ProtectionRecord:
    environment: str
    reviewers: tuple[str, ...]
    wait_seconds: int
    branches: tuple[str, ...]
    vars: dict[str, str]
    has_secrets: bool  # its secrets are a 0600 file in the server's home, never here
    changed_by: str
    changed_at: float


class ReviewState(enum.StrEnum):
    WAITING = "waiting"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Review:
    id: int
    run_id: int
    environment: str
    jobs: tuple[str, ...]  # the job ids held for it
    reviewers: tuple[str, ...]  # () : its wait timer alone holds them
    wait_seconds: int
    state: ReviewState
    requested_at: float
    decided_by: str | None
    decided_at: float | None
    comment: str | None
    continued_as: int | None  # the queued run that goes on with its jobs

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "jobs": list(self.jobs), "reviewers": list(self.reviewers),
                "state": self.state.value}  # fmt: skip


def _protection(row: Any) -> ProtectionRecord:
    return ProtectionRecord(row.environment, tuple(row.reviewers), row.wait_seconds,
                            tuple(row.branches), dict(row.vars), row.has_secrets,
                            row.changed_by, row.changed_at)  # fmt: skip


def _review(row: Any) -> Review:
    return Review(row.id, row.run_id, row.environment, tuple(row.jobs), tuple(row.reviewers),
                  row.wait_seconds, ReviewState(row.state), row.requested_at, row.decided_by,
                  row.decided_at, row.comment, row.continued_as)  # fmt: skip


class ProtectionRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def all(self) -> list[ProtectionRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.protections).order_by(t.protections.c.environment))
            return [_protection(row) for row in rows]

    def get(self, environment: str) -> ProtectionRecord | None:
        query = select(t.protections).where(t.protections.c.environment == environment)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
            return _protection(row) if row is not None else None

    def put(self, record: ProtectionRecord) -> None:
        values = {**record.__dict__, "reviewers": list(record.reviewers),
                  "branches": list(record.branches)}  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.protections).where(t.protections.c.environment == record.environment)
            )
            conn.execute(insert(t.protections).values(**values))

    def remove(self, environment: str) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(t.protections).where(t.protections.c.environment == environment)
            )
            return bool(gone.rowcount)


class ReviewRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def open(
        self,
        run_id: int,
        environment: str,
        jobs: list[str],
        reviewers: tuple[str, ...],
        wait_seconds: int,
    ) -> Review:
        values = {
            "run_id": run_id, "environment": environment, "jobs": jobs,
            "reviewers": list(reviewers), "wait_seconds": wait_seconds,
            "state": ReviewState.WAITING.value, "requested_at": time.time(),
        }  # fmt: skip
        with self.engine.begin() as conn:
            key = conn.execute(insert(t.reviews).values(**values)).inserted_primary_key
        assert key is not None
        found = self.get(int(key[0]))
        assert found is not None
        return found

    def get(self, review_id: int) -> Review | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.reviews).where(t.reviews.c.id == review_id)).first()
            return _review(row) if row is not None else None

    def of_run(self, run_id: int) -> list[Review]:
        query = select(t.reviews).where(t.reviews.c.run_id == run_id).order_by(t.reviews.c.id)
        with self.engine.connect() as conn:
            return [_review(row) for row in conn.execute(query)]

    def decide(
        self, review_id: int, state: ReviewState, by: str, comment: str | None
    ) -> Review | None:
        """Approve or reject a waiting review; None when it was decided already (a second
        click, another reviewer first): only one decision ever counts."""
        still = t.reviews.c.state == ReviewState.WAITING.value
        decided = {"state": state.value, "decided_by": by, "decided_at": time.time(),
                   "comment": comment}  # fmt: skip
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(t.reviews).where(t.reviews.c.id == review_id, still).values(**decided)
            ).rowcount
        return self.get(review_id) if changed else None

    def continued(self, review_id: int, queued_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.reviews).where(t.reviews.c.id == review_id).values(continued_as=queued_id)
            )
