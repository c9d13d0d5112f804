"""What a flags file last applied, per source, flag and environment: a live state that
differs from what was applied is a change by hand, and a desired state that differs from it is
a change in the file (the one to apply)."""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from . import tables as t
from .database import Store


class FlagSyncRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def applied(self, source: str) -> dict[tuple[str, str], str]:
        """(flag, environment) -> the digest of the state last applied from `source`."""
        s = t.flag_sync.c
        query = select(s.flag, s.environment, s.digest).where(s.source == source)
        with self.engine.connect() as conn:
            return {(r.flag, r.environment): r.digest for r in conn.execute(query)}

    def note(self, source: str, flag: str, environment: str, digest: str, revision: str) -> None:
        with self.engine.begin() as conn:
            _forget(conn, source, flag, environment)
            conn.execute(
                insert(t.flag_sync).values(
                    source=source,
                    flag=flag,
                    environment=environment,
                    digest=digest,
                    revision=revision,
                    applied_at=time.time(),
                )
            )


def _forget(conn: Connection, source: str, flag: str, environment: str) -> None:
    s = t.flag_sync.c
    conn.execute(
        delete(t.flag_sync).where(s.source == source, s.flag == flag, s.environment == environment)
    )
