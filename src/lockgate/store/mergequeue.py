"""The merge queue's entries, as typed records: a lane is one repository's target branch. An
entry is a branch of a bare repository, or a pull request (`pull`) of a forge's."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from . import tables as t
from .database import Store


class EntryState(enum.StrEnum):
    QUEUED = "queued"  # waiting for a place in the window of changes under test
    TESTING = "testing"  # its merge commit is being tested
    PASSED = "passed"  # green: it merges when every change ahead of it has
    MERGED = "merged"
    FAILED = "failed"  # left the queue: red, a conflict, or removed


ACTIVE = (EntryState.QUEUED, EntryState.TESTING, EntryState.PASSED)


@dataclass(frozen=True)
class MergeEntry:
    id: int
    repository: str
    branch: str
    target: str
    head: str
    state: EntryState
    base: str | None
    candidate: str | None
    queued_run: int | None
    reason: str | None
    added_by: str
    added_at: float
    finished_at: float | None
    pull: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "state": self.state.value}


def _entry(row: Any) -> MergeEntry:
    values = dict(row._mapping)
    return MergeEntry(**{**values, "state": EntryState(values["state"])})


class MergeQueueRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def add(
        self, repository: str, branch: str, target: str, head: str, by: str,
        pull: int | None = None,
    ) -> MergeEntry:  # fmt: skip
        values = {
            "repository": repository, "branch": branch, "target": target, "head": head,
            "state": EntryState.QUEUED.value, "added_by": by, "added_at": time.time(),
            "pull": pull,
        }  # fmt: skip
        with self.engine.begin() as conn:
            key = conn.execute(insert(t.merge_queue).values(**values)).inserted_primary_key
        assert key is not None
        found = self.get(int(key[0]))
        assert found is not None
        return found

    def get(self, entry_id: int) -> MergeEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.merge_queue).where(t.merge_queue.c.id == entry_id)).first()
            return _entry(row) if row is not None else None

    def listed(self, limit: int = 100) -> list[MergeEntry]:
        query = select(t.merge_queue).order_by(t.merge_queue.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def lanes(self) -> list[tuple[str, str]]:
        """(repository, target) of every lane with changes in it."""
        c = t.merge_queue.c
        query = select(c.repository, c.target).where(c.state.in_([s.value for s in ACTIVE]))
        with self.engine.connect() as conn:
            return sorted({(row.repository, row.target) for row in conn.execute(query)})

    def active(self, repository: str, target: str) -> list[MergeEntry]:
        """The lane's changes still in the queue, first in first."""
        c = t.merge_queue.c
        query = (
            select(t.merge_queue)
            .where(
                c.repository == repository,
                c.target == target,
                c.state.in_([s.value for s in ACTIVE]),
            )
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def of_pull(self, repository: str, pull: int) -> MergeEntry | None:
        """The pull request's entry still in the queue, if any."""
        c = t.merge_queue.c
        query = select(t.merge_queue).where(
            c.repository == repository, c.pull == pull, c.state.in_([s.value for s in ACTIVE])
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
            return _entry(row) if row is not None else None

    def change(self, entry_id: int, **fields: Any) -> None:
        if "state" in fields:
            fields["state"] = EntryState(fields["state"]).value
            if fields["state"] in (EntryState.MERGED, EntryState.FAILED):
                fields.setdefault("finished_at", time.time())
        with self.engine.begin() as conn:
            conn.execute(
                update(t.merge_queue).where(t.merge_queue.c.id == entry_id).values(**fields)
            )
