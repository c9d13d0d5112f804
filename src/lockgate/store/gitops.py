"""GitOps sync state as typed records: each watched source's last fetch, and per environment
the desired state git gave it, whether the live state matches, and what differs."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update

from . import tables as t
from .database import Store


class SyncStatus(enum.StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"  # the repository could not be read: nothing is known of git's wish


@dataclass(frozen=True)
class Difference:
    """One thing the live environment has otherwise than git says."""

    field: str  # digest, instances, instance 2 digest, router weights, strategy.type, ...
    desired: str
    live: str


@dataclass
class SourceState:
    source: str  # url#branch:path
    checked_at: float
    commit: str | None = None
    author: str | None = None
    fetched_at: float | None = None
    error: str | None = None  # the last fetch failed: why
    invalid: str | None = None  # the commit is invalid: where and what


@dataclass
class EnvironmentSync:
    environment: str
    source: str
    commit: str  # the config commit its desired state comes from
    digest: str  # the desired state last tried (applied, or failed to apply)
    document: dict[str, Any]  # its merged environment document
    sync: SyncStatus
    checked_at: float
    applied_commit: str | None = None
    health: str | None = None
    message: str | None = None
    differences: list[Difference] = field(default_factory=list)
    in_git: bool = True  # False: removed from git and kept (prune is off)
    failed_commit: str | None = None  # its rollout failed: retried only after `retry_at`
    failures: int = 0
    retry_at: float | None = None


class GitopsRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def source(self, source: str) -> SourceState | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.gitops_sources).where(t.gitops_sources.c.source == source)
            ).first()
        return SourceState(**dict(row._mapping)) if row else None

    def save_source(self, state: SourceState) -> None:
        values = dataclasses.asdict(state)
        with self.engine.begin() as conn:
            table = t.gitops_sources
            done = conn.execute(update(table).where(table.c.source == state.source).values(values))
            if not done.rowcount:
                conn.execute(insert(table).values(values))

    def environments(self, source: str | None = None) -> list[EnvironmentSync]:
        query = select(t.gitops_environments).order_by(t.gitops_environments.c.environment)
        if source is not None:
            query = query.where(t.gitops_environments.c.source == source)
        with self.engine.connect() as conn:
            return [_sync(r._mapping) for r in conn.execute(query)]

    def environment(self, name: str) -> EnvironmentSync | None:
        table = t.gitops_environments
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.environment == name)).first()
        return _sync(row._mapping) if row else None

    def save(self, sync: EnvironmentSync) -> None:
        values = dataclasses.asdict(sync)
        values["sync"] = sync.sync.value
        table = t.gitops_environments
        with self.engine.begin() as conn:
            done = conn.execute(
                update(table).where(table.c.environment == sync.environment).values(values)
            )
            if not done.rowcount:
                conn.execute(insert(table).values(values))

    def forget(self, name: str) -> None:
        """The environment was pruned: git no longer manages it."""
        table = t.gitops_environments
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.environment == name))


def _sync(row: Any) -> EnvironmentSync:
    values = dict(row)
    values["sync"] = SyncStatus(values["sync"])
    values["differences"] = [Difference(**d) for d in values["differences"] or []]
    return EnvironmentSync(**values)
