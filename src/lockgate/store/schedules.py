"""The schedules (`on: schedule`) of the repositories the server runs: one row per workflow
and cron expression, with the time it fires next. A firing is queued with a delivery id made of
the schedule and its time, so two servers on one store queue it once."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from . import tables as t
from .database import Store


@dataclass(frozen=True)
class Schedule:
    id: int
    repository: str
    ref: str
    workflow_file: str
    cron: str
    next_at: float


class Schedules:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def replace(
        self,
        repository: str,
        ref: str,
        wanted: list[tuple[str, str]],
        next_at: Callable[[str], float],
    ) -> None:
        """The repository's schedules become `wanted` (workflow file, cron); those kept keep
        their next time, new ones get `next_at(cron)`."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(t.schedules).where(t.schedules.c.repository == repository)
            ).all()
            have = {(row.workflow_file, row.cron): row.id for row in rows}
            gone = [row_id for key, row_id in have.items() if key not in wanted]
            if gone:
                conn.execute(delete(t.schedules).where(t.schedules.c.id.in_(gone)))
            conn.execute(
                update(t.schedules).where(t.schedules.c.repository == repository).values(ref=ref)
            )
            for workflow_file, cron in wanted:
                if (workflow_file, cron) not in have:
                    conn.execute(insert(t.schedules).values(
                        repository=repository, ref=ref, workflow_file=workflow_file, cron=cron,
                        next_at=next_at(cron)))  # fmt: skip

    def listed(self) -> list[Schedule]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.schedules).order_by(t.schedules.c.next_at))
            return [Schedule(**row._mapping) for row in rows]

    def due(self, now: float | None = None) -> list[Schedule]:
        moment = time.time() if now is None else now
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.schedules).where(t.schedules.c.next_at <= moment))
            return [Schedule(**row._mapping) for row in rows]

    def advance(self, schedule: Schedule, next_at: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.schedules)
                .where(t.schedules.c.id == schedule.id, t.schedules.c.next_at == schedule.next_at)
                .values(next_at=next_at)
            )
