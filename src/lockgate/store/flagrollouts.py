"""Guarded flag rollouts as typed records: the rollout (which step it is at, whether that
step's percentage is in the flag yet), its measurements, and the observations SDKs report for
it. Every move of a rollout is a compare-and-set on its state and step, so two guards (or a
guard and a person) never both move it."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from ..common.errors import UserError
from . import tables as t
from .database import Store


class RolloutState(enum.StrEnum):
    RUNNING = "running"
    ROLLING_BACK = "rolling-back"  # decided: the flag is being switched off
    ROLLED_BACK = "rolled-back"  # a regression switched the flag off
    COMPLETED = "completed"
    STOPPED = "stopped"  # by a person, or a change by hand took the flag over

    @property
    def active(self) -> bool:
        return self in (RolloutState.RUNNING, RolloutState.ROLLING_BACK)


@dataclass(frozen=True)
class GuardedRollout:
    id: int
    flag: str
    environment: str
    spec: dict[str, Any]  # lockgate.flags.guard.GuardSpec, as JSON
    state: RolloutState
    step: int  # index into the spec's steps
    applied: bool  # the step's percentage is in the flag
    reason: str
    started_by: str
    started_at: float
    step_started_at: float | None = None
    measured_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class FlagAnalysis:
    """One measurement of a step: each side of the flag against those it is off for."""

    id: int
    rollout_id: int
    step: str
    measurement: int
    started_at: float
    finished_at: float
    verdict: str  # pass | fail | inconclusive
    score: float
    reason: str
    metrics: list[dict[str, Any]]
    samples: dict[str, Any]  # per metric: {"canary": [...], "baseline": [...]}


@dataclass(frozen=True)
class Observation:
    side: str  # off, on, or a variant's name
    at: float
    latency: float | None
    failed: bool


class RolloutRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def start(self, flag: str, environment: str, spec: dict[str, Any], actor: str) -> int:
        with self.engine.begin() as conn:
            busy = conn.execute(
                select(t.flag_rollouts.c.id).where(
                    t.flag_rollouts.c.flag == flag,
                    t.flag_rollouts.c.environment == environment,
                    t.flag_rollouts.c.state.in_([s.value for s in RolloutState if s.active]),
                )
            ).first()
            if busy is not None:
                raise UserError(
                    f"flag {flag!r} has a guarded rollout running in {environment} (#{busy[0]})",
                    hint=f"stop it first: lockgate flags guard {flag} {environment} --stop",
                )
            key = conn.execute(
                insert(t.flag_rollouts).values(
                    flag=flag,
                    environment=environment,
                    spec=spec,
                    state=RolloutState.RUNNING,
                    step=0,
                    applied=False,
                    reason="starting",
                    started_by=actor,
                    started_at=time.time(),
                )
            ).inserted_primary_key
        assert key is not None
        return int(key[0])

    def get(self, rollout_id: int) -> GuardedRollout | None:
        query = select(t.flag_rollouts).where(t.flag_rollouts.c.id == rollout_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _rollout(row._mapping) if row else None

    def active(self) -> list[GuardedRollout]:
        states = [s.value for s in RolloutState if s.active]
        query = select(t.flag_rollouts).where(t.flag_rollouts.c.state.in_(states))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.flag_rollouts.c.id))
            return [_rollout(r._mapping) for r in rows]

    def recent(
        self, environment: str | None = None, flag: str | None = None, limit: int = 20
    ) -> list[GuardedRollout]:
        query = select(t.flag_rollouts).order_by(t.flag_rollouts.c.id.desc()).limit(limit)
        if environment is not None:
            query = query.where(t.flag_rollouts.c.environment == environment)
        if flag is not None:
            query = query.where(t.flag_rollouts.c.flag == flag)
        with self.engine.connect() as conn:
            return [_rollout(r._mapping) for r in conn.execute(query)]

    def move(self, was: GuardedRollout, **changes: Any) -> GuardedRollout | None:
        """Change `was` if nobody moved it since it was read (same state and step); the
        rollout as it is now, or None when someone else moved it first."""
        if "state" in changes and not RolloutState(changes["state"]).active:
            changes.setdefault("finished_at", time.time())
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(t.flag_rollouts)
                .where(
                    t.flag_rollouts.c.id == was.id,
                    t.flag_rollouts.c.state == was.state.value,
                    t.flag_rollouts.c.step == was.step,
                )
                .values(**changes)
            ).rowcount
        return self.get(was.id) if moved else None

    # -- measurements ----------------------------------------------------------------------------
    def add_analysis(self, **fields: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(t.flag_analyses).values(**fields))

    def analyses(self, rollout_id: int, step: str | None = None) -> list[FlagAnalysis]:
        query = select(t.flag_analyses).where(t.flag_analyses.c.rollout_id == rollout_id)
        if step is not None:
            query = query.where(t.flag_analyses.c.step == step)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.flag_analyses.c.id))
            return [FlagAnalysis(**r._mapping) for r in rows]

    # -- observations ------------------------------------------------------------------------------
    def observe(self, flag: str, environment: str, seen: Iterable[Observation]) -> int:
        rows = [
            {"flag": flag, "environment": environment, "side": o.side, "at": o.at,
             "latency": o.latency, "failed": o.failed}
            for o in seen
        ]  # fmt: skip
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(t.flag_observations), rows)
        return len(rows)

    def observations(
        self, flag: str, environment: str, sides: Sequence[str], since: float, until: float
    ) -> list[Observation]:
        o = t.flag_observations.c
        query = select(o.side, o.at, o.latency, o.failed).where(
            o.flag == flag,
            o.environment == environment,
            o.side.in_(list(sides)),
            o.at >= since,
            o.at <= until,
        )
        with self.engine.connect() as conn:
            return [Observation(*r) for r in conn.execute(query.order_by(o.at))]

    def forget_observations(self, before: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.flag_observations).where(t.flag_observations.c.at < before))


def _rollout(row: Any) -> GuardedRollout:
    values = dict(row)
    values["state"] = RolloutState(values["state"])
    return GuardedRollout(**values)
