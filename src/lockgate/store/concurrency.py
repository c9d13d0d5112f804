"""`concurrency:` groups kept in the store, so every run writing to one store shares them,
whichever machine it runs on. Per group: the entry in progress (its token, host and pid, and a
lease it renews), the entry pending, and the holder a newcomer with cancel-in-progress asked
to stop. Every move is a compare-and-set on that row."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from dataclasses import dataclass

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import tables as t
from .database import Store, pid_alive

LEASE = 15.0  # seconds an entry in progress holds its group without renewing it


@dataclass(frozen=True)
class GroupState:
    holder: str | None
    holder_host: str | None
    holder_pid: int | None
    holder_until: float | None
    pending: str | None
    cancel: str | None

    def holder_gone(self, now: float) -> bool:
        """The entry in progress stopped holding: its lease ran out, or its process (on this
        machine) is dead, as a killed run's is."""
        if self.holder is None:
            return True
        if (self.holder_until or 0) < now:
            return True
        return self.holder_host == socket.gethostname() and not pid_alive(self.holder_pid)


def _key(group: str) -> str:
    return hashlib.sha256(group.encode()).hexdigest()


class ConcurrencyGroups:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def state(self, group: str) -> GroupState | None:
        column = t.concurrency_groups.c
        query = select(column.holder, column.holder_host, column.holder_pid, column.holder_until,
                       column.pending, column.cancel).where(column.key == _key(group))  # fmt: skip
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return GroupState(*row) if row is not None else None

    def ask(self, group: str, token: str) -> None:
        """`token` is the entry pending: the one it replaces sees it superseded."""
        table, key = t.concurrency_groups, _key(group)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(table).values(key=key, name=group[:1000], pending=token))
        except IntegrityError:
            with self.engine.begin() as conn:
                conn.execute(update(table).where(table.c.key == key).values(pending=token))

    def take(self, group: str, token: str, gone: str | None) -> bool:
        """`token` (pending) becomes the entry in progress if none holds the group, or the one
        holding it is `gone` (its lease ran out, or its process died)."""
        table, now = t.concurrency_groups, time.time()
        free = or_(table.c.holder.is_(None), table.c.holder_until < now)
        if gone is not None:
            free = or_(free, table.c.holder == gone)
        took = {"holder": token, "holder_host": socket.gethostname(), "holder_pid": os.getpid(),
                "holder_until": now + LEASE, "pending": None, "cancel": None}  # fmt: skip
        where = (table.c.key == _key(group), table.c.pending == token, free)
        query = update(table).where(*where).values(**took)
        with self.engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def renew(self, group: str, token: str) -> None:
        """The entry in progress still holds the group."""
        table = t.concurrency_groups
        query = update(table).where(table.c.key == _key(group), table.c.holder == token).values(
            holder_until=time.time() + LEASE)  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(query)

    def ask_to_stop(self, group: str, holder: str) -> None:
        table = t.concurrency_groups
        query = update(table).where(table.c.key == _key(group), table.c.holder == holder).values(
            cancel=holder)  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(query)

    def release(self, group: str, token: str) -> None:
        table = t.concurrency_groups
        gone = dict.fromkeys(("holder", "holder_host", "holder_pid", "holder_until", "cancel"))
        query = (
            update(table).where(table.c.key == _key(group), table.c.holder == token).values(**gone)
        )
        with self.engine.begin() as conn:
            conn.execute(query)
