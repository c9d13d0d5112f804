"""Break-glass overrides as typed records: a named gate (policy, window, analysis) of one
environment bypassed for a bounded time, with who asked, why, and who approved."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from . import tables as t
from .database import Store


class Gate(enum.StrEnum):
    POLICY = "policy"  # the repository's Rego policies
    WINDOW = "window"  # GitOps sync windows
    ANALYSIS = "analysis"  # canary analysis: a failed measurement no longer rolls back


class OverrideState(enum.StrEnum):
    PENDING = "pending"  # waits for a second person's approval
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DRILL = "drill"  # a rehearsal: went through every step, never took effect


@dataclass
class Override:
    id: int
    environment: str
    bypass: list[Gate]
    reason: str
    ttl: float
    drill: bool
    requested_by: str
    requested_at: float
    needs_approval: bool
    approved_by: str | None = None
    effective_at: float | None = None
    expires_at: float | None = None
    revoked_by: str | None = None
    revoked_at: float | None = None

    def state(self, now: float) -> OverrideState:
        if self.revoked_at is not None:
            return OverrideState.REVOKED
        if self.effective_at is None:
            return OverrideState.PENDING
        if self.drill:
            return OverrideState.DRILL
        assert self.expires_at is not None
        return OverrideState.ACTIVE if now < self.expires_at else OverrideState.EXPIRED

    def covers(self, gate: Gate, now: float) -> bool:
        return gate in self.bypass and self.state(now) == OverrideState.ACTIVE

    def describe(self, now: float) -> str:
        gates = ", ".join(self.bypass)
        said = f"override #{self.id} ({gates}) by {self.requested_by}: {self.reason!r}"
        state = self.state(now)
        if state == OverrideState.ACTIVE:
            assert self.expires_at is not None
            return f"{said}, active for {self.expires_at - now:.0f}s more"
        if state == OverrideState.PENDING:
            return f"{said}, waiting for a second person's approval"
        return f"{said}, {state.value}"


class OverrideRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def add(self, override: Override) -> Override:
        values = dataclasses.asdict(override)
        del values["id"]
        values["bypass"] = [str(g) for g in override.bypass]
        with self.engine.begin() as conn:
            found = conn.execute(insert(t.overrides).values(values))
            key = found.inserted_primary_key
            assert key is not None
            override.id = int(key[0])
        return override

    def save(self, override: Override) -> None:
        values = dataclasses.asdict(override)
        values["bypass"] = [str(g) for g in override.bypass]
        with self.engine.begin() as conn:
            conn.execute(update(t.overrides).where(t.overrides.c.id == override.id).values(values))

    def get(self, override_id: int) -> Override | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.overrides).where(t.overrides.c.id == override_id)).first()
        return _record(row._mapping) if row else None

    def of(self, environment: str, limit: int = 20) -> list[Override]:
        """Newest first."""
        query = (
            select(t.overrides)
            .where(t.overrides.c.environment == environment)
            .order_by(t.overrides.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_record(r._mapping) for r in conn.execute(query)]

    def covering(self, environment: str, gate: Gate, now: float) -> Override | None:
        """The active override of `environment` that bypasses `gate`, if any."""
        return next((o for o in self.of(environment) if o.covers(gate, now)), None)


def _record(row: object) -> Override:
    values = dict(row)  # type: ignore[call-overload]
    values["bypass"] = [Gate(g) for g in values["bypass"]]
    return Override(**values)
