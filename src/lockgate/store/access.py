"""Who may use the server's API: tokens, kept only as their sha256 digests, each with a role;
and the audit trail of every change made through it (who, what, when)."""

from __future__ import annotations

import enum
import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from ..common.errors import UserError
from . import tables as t
from .database import Store


class Role(enum.IntEnum):
    WORKER = 0  # a runner on another machine (`lockgate worker`): the worker API only
    VIEWER = 1  # reads
    OPERATOR = 2  # runs, reruns, cancels, deploys, promotes, aborts
    ADMIN = 3  # and the audit trail, tokens


@dataclass(frozen=True)
class Token:
    name: str
    role: Role


@dataclass(frozen=True)
class AuditEvent:
    at: float
    actor: str
    action: str
    target: str


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class Access:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def create(self, name: str, role: Role) -> str:
        """A new token for `name`; the only time it is shown."""
        raw = "lg_" + secrets.token_urlsafe(32)
        values = {"name": name, "role": role.name.lower(), "digest": _digest(raw),
                  "created_at": time.time()}  # fmt: skip
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.api_tokens).values(**values))
        except IntegrityError:
            raise UserError(f"a token named {name!r} exists", hint="revoke it first") from None
        return raw

    def revoke(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(delete(t.api_tokens).where(t.api_tokens.c.name == name)).rowcount
            )

    def tokens(self) -> list[Token]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.api_tokens.c.name, t.api_tokens.c.role))
            return [Token(row.name, Role[row.role.upper()]) for row in rows]

    def holder(self, raw: str) -> Token | None:
        """Whose token this is (looked up by digest: the token itself is never stored)."""
        return self.holder_by_digest(_digest(raw))

    def holder_by_digest(self, digest: str) -> Token | None:
        query = select(t.api_tokens).where(t.api_tokens.c.digest == digest)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return Token(row.name, Role[row.role.upper()]) if row is not None else None

    def record(self, actor: str, action: str, target: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(t.audit).values(at=time.time(), actor=actor, action=action,
                                                target=target))  # fmt: skip

    def trail(self, limit: int = 100) -> list[AuditEvent]:
        query = select(t.audit).order_by(t.audit.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [AuditEvent(r.at, r.actor, r.action, r.target) for r in conn.execute(query)]
