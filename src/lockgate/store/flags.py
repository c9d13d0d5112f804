"""Feature flags as typed records: each flag once (an archived one stays, so its name is never
used again), its state in each environment, and every change with who made it. A change and
its audit row are one transaction: there is no change without its record."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..common.errors import UserError
from . import tables as t
from .database import Store


class FlagKind(enum.StrEnum):
    """Unleash's flag types, with the lifetime after which a flag is flag debt."""

    RELEASE = "release"
    EXPERIMENT = "experiment"
    OPERATIONAL = "operational"
    KILL_SWITCH = "kill-switch"
    PERMISSION = "permission"

    @property
    def lifetime_days(self) -> int | None:  # None: meant to stay
        return {"release": 40, "experiment": 40, "operational": 7}.get(self.value)


@dataclass(frozen=True)
class FlagRecord:
    name: str
    kind: FlagKind
    description: str
    created_at: float
    created_by: str
    archived_at: float | None = None
    archived_by: str | None = None
    archive_reason: str | None = None


@dataclass(frozen=True)
class FlagState:
    """A flag in one environment; `strategies` and `variants` in Unleash's client API shape
    (lockgate.flags.definitions reads them)."""

    flag: str
    environment: str
    enabled: bool
    strategies: list[dict[str, Any]]
    variants: list[dict[str, Any]]
    changed_at: float


@dataclass(frozen=True)
class SegmentRecord:
    """Constraints several flags' strategies share; strategies name it by `id`."""

    id: int
    name: str
    description: str
    constraints: list[dict[str, Any]]  # Unleash's constraint shape
    changed_at: float


@dataclass(frozen=True)
class FlagChange:
    id: int
    flag: str
    environment: str | None
    at: float
    actor: str
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class FlagRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    # -- flags -------------------------------------------------------------------------------
    def create(self, name: str, kind: FlagKind, description: str, actor: str) -> FlagRecord:
        """A new flag, off everywhere. A name used before, even by an archived flag, is
        refused: old code still reading it would take the new flag's meaning (Knight Capital's
        repurposed flag)."""
        record = FlagRecord(name, kind, description, time.time(), actor)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t.flags).values(
                        name=name,
                        kind=str(kind),
                        description=description,
                        created_at=record.created_at,
                        created_by=actor,
                    )
                )
                _note(conn, name, None, actor, f"created ({kind})", None, None)
        except IntegrityError:
            raise _used(self.get(name), name) from None
        return record

    def get(self, name: str) -> FlagRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.flags).where(t.flags.c.name == name)).first()
        return _flag(row._mapping) if row else None

    def live(self, name: str) -> FlagRecord:
        """The flag, which must exist and not be archived (UserError otherwise)."""
        record = self.get(name)
        if record is None:
            raise UserError(f"no flag named {name!r}", hint="`lockgate flags list` shows them")
        if record.archived_at is not None:
            raise UserError(f"flag {name!r} is archived: {_retired(record)}")
        return record

    def all(self, archived: bool = False) -> list[FlagRecord]:
        query = select(t.flags).order_by(t.flags.c.name)
        if not archived:
            query = query.where(t.flags.c.archived_at.is_(None))
        with self.engine.connect() as conn:
            return [_flag(r._mapping) for r in conn.execute(query)]

    def archive(self, name: str, actor: str, reason: str) -> FlagRecord:
        self.live(name)
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                update(t.flags)
                .where(t.flags.c.name == name)
                .values(archived_at=now, archived_by=actor, archive_reason=reason)
            )
            _note(conn, name, None, actor, f"archived: {reason}", None, None)
        archived = self.get(name)
        assert archived is not None
        return archived

    # -- state in environments -----------------------------------------------------------------
    def state(self, name: str, environment: str) -> FlagState | None:
        query = select(t.flag_states).where(
            t.flag_states.c.flag == name, t.flag_states.c.environment == environment
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _state(row._mapping) if row else None

    def states(self, environment: str) -> list[tuple[FlagRecord, FlagState | None]]:
        """Every live flag with its state in `environment` (None: never set there, so off)."""
        states = {}
        query = select(t.flag_states).where(t.flag_states.c.environment == environment)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                states[row.flag] = _state(row._mapping)
        return [(record, states.get(record.name)) for record in self.all()]

    def environments(self) -> list[str]:
        """Every environment some flag was set in."""
        query = select(t.flag_states.c.environment).distinct().order_by(t.flag_states.c.environment)
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def every_state(self) -> dict[str, list[FlagState]]:
        """Each flag's state in every environment it was set in, in one read."""
        query = select(t.flag_states).order_by(t.flag_states.c.flag, t.flag_states.c.environment)
        found: dict[str, list[FlagState]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                found.setdefault(row.flag, []).append(_state(row._mapping))
        return found

    def set_state(self, state: FlagState, actor: str, summary: str) -> FlagChange:
        """Save `state` (the whole of it) and its change, at once."""
        before = self.state(state.flag, state.environment)
        values = {
            "enabled": state.enabled,
            "strategies": state.strategies,
            "variants": state.variants,
            "changed_at": state.changed_at,
        }
        with self.engine.begin() as conn:
            if before is None:
                conn.execute(
                    insert(t.flag_states).values(
                        flag=state.flag, environment=state.environment, **values
                    )
                )
            else:
                conn.execute(
                    update(t.flag_states)
                    .where(
                        t.flag_states.c.flag == state.flag,
                        t.flag_states.c.environment == state.environment,
                    )
                    .values(**values)
                )
            return _note(
                conn,
                state.flag,
                state.environment,
                actor,
                summary,
                _document(before) if before else None,
                _document(state),
            )

    # -- segments ------------------------------------------------------------------------------
    def segments(self) -> list[SegmentRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.flag_segments).order_by(t.flag_segments.c.name))
            return [SegmentRecord(**r._mapping) for r in rows]

    def set_segment(
        self, name: str, description: str, constraints: list[dict[str, Any]], actor: str
    ) -> SegmentRecord:
        """Create or replace the segment `name`; audited as `segment:NAME` (a name no flag can
        have), which moves the revision, so SDKs fetch again."""
        before = next((s for s in self.segments() if s.name == name), None)
        values = {"description": description, "constraints": constraints,
                  "changed_at": time.time()}  # fmt: skip
        with self.engine.begin() as conn:
            if before is None:
                conn.execute(insert(t.flag_segments).values(name=name, **values))
            else:
                conn.execute(
                    update(t.flag_segments).where(t.flag_segments.c.name == name).values(**values)
                )
            _note(conn, f"segment:{name}", None, actor,
                  "segment created" if before is None else "segment changed",
                  {"constraints": before.constraints} if before else None,
                  {"constraints": constraints})  # fmt: skip
        found = next(s for s in self.segments() if s.name == name)
        return found

    def remove_segment(self, segment: SegmentRecord, actor: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.flag_segments).where(t.flag_segments.c.id == segment.id))
            _note(conn, f"segment:{segment.name}", None, actor, "segment removed",
                  {"constraints": segment.constraints}, None)  # fmt: skip

    # -- history -----------------------------------------------------------------------------
    def changes(
        self, name: str | None = None, environment: str | None = None, limit: int = 50
    ) -> list[FlagChange]:
        """Newest first; a flag's own changes (created, archived) count for every environment."""
        query = select(t.flag_changes).order_by(t.flag_changes.c.id.desc()).limit(limit)
        if name is not None:
            query = query.where(t.flag_changes.c.flag == name)
        if environment is not None:
            query = query.where(
                (t.flag_changes.c.environment == environment)
                | t.flag_changes.c.environment.is_(None)
            )
        with self.engine.connect() as conn:
            return [FlagChange(**r._mapping) for r in conn.execute(query)]

    def revision(self) -> int:
        """Grows with every change: what an SDK's ETag is made of."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(t.flag_changes.c.id))).scalar() or 0)


def _note(
    conn: Connection,
    name: str,
    environment: str | None,
    actor: str,
    summary: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> FlagChange:
    at = time.time()
    values = {"flag": name, "environment": environment, "at": at, "actor": actor,
              "summary": summary, "before": before, "after": after}  # fmt: skip
    key = conn.execute(insert(t.flag_changes).values(values)).inserted_primary_key
    assert key is not None
    return FlagChange(id=int(key[0]), **values)  # type: ignore[arg-type]


def _document(state: FlagState) -> dict[str, Any]:
    return {"enabled": state.enabled, "strategies": state.strategies, "variants": state.variants}


def _flag(row: Any) -> FlagRecord:
    values = dict(row)
    values["kind"] = FlagKind(values["kind"])
    return FlagRecord(**values)


def _state(row: Any) -> FlagState:
    return FlagState(**dict(row))


def _retired(record: FlagRecord) -> str:
    when = time.strftime("%Y-%m-%d", time.gmtime(record.archived_at or 0))
    return f"retired on {when} by {record.archived_by}: {record.archive_reason}"


def _used(record: FlagRecord | None, name: str) -> UserError:
    if record is not None and record.archived_at is not None:
        return UserError(
            f"the flag name {name!r} was used before and is never used again ({_retired(record)})",
            hint="old code may still read it with its old meaning: choose a new name",
        )
    return UserError(f"a flag named {name!r} exists already", hint="choose another name")
