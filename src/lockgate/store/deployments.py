"""Deployment and instance records: written before the controller acts on them."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from sqlalchemy import insert, select, update

from . import tables as t
from .database import Store


class DeploymentRecords:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    # -- deployments ---------------------------------------------------------------------
    def begin(self, **fields: Any) -> int:
        fields.setdefault("status", "in_progress")
        fields.setdefault("started_at", time.time())
        fields.setdefault("pid", os.getpid())
        fields.setdefault("host", socket.gethostname())
        with self.engine.begin() as conn:
            key = conn.execute(insert(t.deployments).values(**fields)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def update(self, deployment_id: int, **fields: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.deployments).where(t.deployments.c.id == deployment_id).values(**fields)
            )

    def finish(self, deployment_id: int, status: str, message: str, report: Any) -> None:
        self.update(
            deployment_id,
            status=status,
            message=message,
            report=report,
            phase=None,
            finished_at=time.time(),
        )

    def latest(self, environment: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.deployments)
                .where(t.deployments.c.environment == environment)
                .order_by(t.deployments.c.id.desc())
                .limit(1)
            ).first()
        return dict(row._mapping) if row else None

    def history(self, environment: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = select(t.deployments).order_by(t.deployments.c.id.desc()).limit(limit)
        if environment is not None:
            query = query.where(t.deployments.c.environment == environment)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def in_progress(self) -> list[dict[str, Any]]:
        """Deployments still marked in progress (their owner may have died)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.deployments).where(t.deployments.c.status == "in_progress")
            )
            return [dict(r._mapping) for r in rows]

    def environments(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.deployments.c.environment).distinct())
            return sorted(r.environment for r in rows)

    # -- instances -------------------------------------------------------------------------
    def add_instance(self, **fields: Any) -> None:
        fields.setdefault("updated_at", time.time())
        with self.engine.begin() as conn:
            conn.execute(insert(t.instances).values(**fields))

    def set_instances(self, ids: list[str], **fields: Any) -> None:
        if not ids:
            return
        fields.setdefault("updated_at", time.time())
        with self.engine.begin() as conn:
            conn.execute(update(t.instances).where(t.instances.c.id.in_(ids)).values(**fields))

    def instances(self, environment: str, live_only: bool = True) -> list[dict[str, Any]]:
        query = select(t.instances).where(t.instances.c.environment == environment)
        if live_only:
            query = query.where(t.instances.c.state.not_in(("stopped", "failed")))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query.order_by(t.instances.c.slot))]

    # -- analyses --------------------------------------------------------------------------
    def add_analysis(self, **fields: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(t.analyses).values(**fields))

    def analyses(self, deployment_id: int) -> list[dict[str, Any]]:
        query = (
            select(t.analyses)
            .where(t.analyses.c.deployment_id == deployment_id)
            .order_by(t.analyses.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def deployment(self, deployment_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.deployments).where(t.deployments.c.id == deployment_id)
            ).first()
        return dict(row._mapping) if row else None
