"""Rollouts, instances and events as typed records, and where they are kept.

A rollout row is an environment's desired state (which digest, how far the strategy got, a
stored pause, a request to promote or abort); instance rows are what the reconciler started and
what it last saw of them. Both are written before the reconciler acts on them.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update

from . import tables as t
from .database import Store


class InstanceState(enum.StrEnum):
    STARTING = "starting"  # launched, not yet ready
    READY = "ready"  # ready, not yet in rotation (a blue-green preview, a fresh canary)
    SERVING = "serving"  # in rotation while it answers its readiness probe
    STANDBY = "standby"  # kept, out of rotation (blue after a switch, a diverged instance)
    STOPPING = "stopping"  # out of the router, stop asked for
    STOPPED = "stopped"
    FAILED = "failed"


LIVE = (
    InstanceState.STARTING,
    InstanceState.READY,
    InstanceState.SERVING,
    InstanceState.STANDBY,
    InstanceState.STOPPING,
)


class RolloutStatus(enum.StrEnum):
    PROGRESSING = "in_progress"
    PAUSED = "paused"  # a canary step waits for `lockgate promote`
    AWAITING_APPROVAL = "awaiting_approval"  # a blue-green preview waits for `promote`
    ROLLING_BACK = "rolling_back"  # failed; converging back to the previous digest
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    STOPPED = "stopped"  # `lockgate down`: nothing is to run
    QUEUED = "queued"  # a multi-region release waiting for the one in flight (waves.py)

    @property
    def active(self) -> bool:
        """The reconciler (for a release: its waves) still has work to do for it."""
        return self in (RolloutStatus.PROGRESSING, RolloutStatus.ROLLING_BACK, RolloutStatus.QUEUED)

    @property
    def waiting(self) -> bool:
        return self in (RolloutStatus.PAUSED, RolloutStatus.AWAITING_APPROVAL)

    @property
    def finished(self) -> bool:
        return not (self.active or self.waiting)


@dataclass
class Divergence:
    """An instance that could not reach the desired digest: it leaves rotation at once."""

    slot: int
    reason: str
    at: float
    in_rotation: bool  # as the router reported it afterwards


@dataclass
class Rollout:
    id: int
    app: str
    environment: str
    digest: str
    previous_digest: str | None
    strategy: str
    kind: str  # deploy | rollback
    status: RolloutStatus
    started_at: float
    triggered_by: str
    source_commit: str | None = None
    config_commit: str | None = None  # GitOps: the config commit that asked for it
    config_author: str | None = None
    phase: str | None = None
    message: str | None = None
    finished_at: float | None = None
    report: dict[str, Any] | None = None
    step: int = 0
    step_started_at: float | None = None
    weight: int = 0  # percent of traffic to a canary
    weight_at: float | None = None
    measured_at: float | None = None
    promote: bool = False
    abort: str | None = None
    failure: str | None = None
    divergent: list[Divergence] = field(default_factory=list)

    @property
    def settled(self) -> str | None:
        """The digest the fleet runs at rest after this rollout (None: nothing runs)."""
        if self.status in (RolloutStatus.SUCCEEDED, RolloutStatus.PROGRESSING):
            return self.digest
        if self.status == RolloutStatus.STOPPED:
            return None
        return self.previous_digest

    @property
    def goal(self) -> str | None:
        """The digest the fleet converges to now: the previous one while rolling back."""
        if self.status == RolloutStatus.ROLLING_BACK:
            return self.previous_digest
        return self.digest

    @property
    def intended(self) -> str | None:
        """The digest the fleet runs at rest after it, or is moving to while it moves."""
        return self.settled if self.status.finished else self.goal


@dataclass
class Instance:
    id: str
    environment: str
    slot: int
    digest: str
    pool: str
    state: InstanceState
    deployment_id: int | None = None
    ref: str | None = None  # the target's handle: a process group, a host's unit...
    address: str | None = None  # host:port
    reason: str | None = None
    updated_at: float = 0.0
    launched_at: float = 0.0
    ready: bool = False
    ready_since: float | None = None
    probed_at: float = 0.0
    restarts: int = 0
    retry_at: float | None = None
    stop_at: float | None = None  # left the router (requests in flight drain)
    signaled_at: float | None = None

    def available(self, now: float, min_ready: float) -> bool:
        """Ready, and ready for at least `min_ready` seconds (baked)."""
        return self.ready and self.ready_since is not None and now - self.ready_since >= min_ready


@dataclass(frozen=True)
class Incident:
    id: int
    environment: str
    title: str
    opened_at: float
    resolved_at: float | None
    deployment_id: int | None  # the deployment that was live when it opened


@dataclass(frozen=True)
class Analysis:
    """One measurement of a canary against its baseline, and the verdict on it."""

    id: int
    deployment_id: int
    step: str  # which step or pause it gated
    measurement: int
    started_at: float
    finished_at: float
    verdict: str  # pass | fail | inconclusive
    score: float
    reason: str
    metrics: list[dict[str, Any]]  # per metric: name, verdict, reason, statistics
    samples: dict[str, Any]  # per metric and side: the values compared


@dataclass(frozen=True)
class Event:
    at: float
    text: str
    deployment_id: int | None = None


_SAVE_INSTANCE = (
    update(t.instances)
    .where(t.instances.c.id == bindparam("v_id"))
    .values(
        {f.name: bindparam(f"v_{f.name}") for f in dataclasses.fields(Instance) if f.name != "id"}
    )
)


def _rollout(row: Row[Any]) -> Rollout:
    values = dict(row._mapping)
    values["status"] = RolloutStatus(values["status"])
    values["divergent"] = [Divergence(**d) for d in values["divergent"] or []]
    names = {f.name for f in dataclasses.fields(Rollout)}
    return Rollout(**{k: v for k, v in values.items() if k in names})


def _instance(row: Row[Any]) -> Instance:
    values = dict(row._mapping)
    values["state"] = InstanceState(values["state"])
    return Instance(**values)


class DeploymentRecords:
    def __init__(self, store: Store) -> None:
        self.store, self.engine = store, store.engine
        self.url = store.url  # for processes that open the same store (the agent)

    # -- rollouts ------------------------------------------------------------------------
    def begin(
        self,
        *,
        app: str,
        environment: str,
        digest: str,
        previous_digest: str | None,
        strategy: str,
        kind: str,
        triggered_by: str,
        source_commit: str | None = None,
        config_commit: str | None = None,
        config_author: str | None = None,
    ) -> Rollout:
        now = time.time()
        values = {
            "app": app,
            "environment": environment,
            "digest": digest,
            "previous_digest": previous_digest,
            "strategy": strategy,
            "kind": kind,
            "triggered_by": triggered_by,
            "source_commit": source_commit,
            "config_commit": config_commit,
            "config_author": config_author,
            "status": RolloutStatus.PROGRESSING.value,
            "started_at": now,
            "step_started_at": now,
        }
        with self.engine.begin() as conn:
            key = conn.execute(insert(t.deployments).values(**values)).inserted_primary_key
        assert key is not None
        found = self.rollout(int(key[0]))
        assert found is not None
        return found

    def save(self, rollout: Rollout) -> None:
        values = dataclasses.asdict(rollout)
        values["status"] = rollout.status.value
        del values["id"]
        with self.engine.begin() as conn:
            conn.execute(
                update(t.deployments).where(t.deployments.c.id == rollout.id).values(values)
            )

    def promote(self, rollout: Rollout) -> Rollout:
        """A paused rollout (or release) goes on: recorded, with an event."""
        rollout.status, rollout.promote = RolloutStatus.PROGRESSING, True
        self.save(rollout)
        self.add_event(rollout.environment, "promoted", rollout.id)
        return rollout

    def ask_abort(self, rollout: Rollout, why: str) -> Rollout:
        """Ask that a paused or running rollout (or release) stop; whoever drives it does."""
        rollout.abort = why
        if rollout.status.waiting:
            rollout.status = RolloutStatus.PROGRESSING
        self.save(rollout)
        return rollout

    def rollout(self, deployment_id: int) -> Rollout | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.deployments).where(t.deployments.c.id == deployment_id)
            ).first()
        return _rollout(row) if row else None

    def latest(self, environment: str) -> Rollout | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.deployments)
                .where(t.deployments.c.environment == environment)
                .order_by(t.deployments.c.id.desc())
                .limit(1)
            ).first()
        return _rollout(row) if row else None

    def history(self, environment: str, limit: int = 50) -> list[Rollout]:
        query = (
            select(t.deployments)
            .where(t.deployments.c.environment == environment)
            .order_by(t.deployments.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_rollout(r) for r in conn.execute(query)]

    def since(self, at: float) -> list[Rollout]:
        """Every deployment started at or after `at`, in any environment, oldest first."""
        query = select(t.deployments).where(t.deployments.c.started_at >= at)
        with self.engine.connect() as conn:
            return [_rollout(r) for r in conn.execute(query.order_by(t.deployments.c.id))]

    # -- incidents ---------------------------------------------------------------------------
    def open_incident(self, environment: str, title: str, at: float) -> Incident:
        """An incident, attributed to the last deployment that reached the environment."""
        live = next(
            (r for r in self.history(environment) if r.status == RolloutStatus.SUCCEEDED), None
        )
        incident = Incident(0, environment, title, at, None, live.id if live else None)
        values = {k: v for k, v in dataclasses.asdict(incident).items() if k != "id"}
        with self.engine.begin() as conn:
            result = conn.execute(insert(t.incidents).values(**values))
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return dataclasses.replace(incident, id=new_id)

    def resolve_incident(self, incident_id: int, at: float) -> bool:
        query = (
            update(t.incidents)
            .where(t.incidents.c.id == incident_id, t.incidents.c.resolved_at.is_(None))
            .values(resolved_at=at)
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def open_incidents(self, environment: str, title: str) -> list[Incident]:
        query = select(t.incidents).where(
            t.incidents.c.environment == environment,
            t.incidents.c.title == title,
            t.incidents.c.resolved_at.is_(None),
        )
        with self.engine.connect() as conn:
            return [Incident(**dict(r._mapping)) for r in conn.execute(query)]

    def incidents(self, since: float) -> list[Incident]:
        query = select(t.incidents).where(t.incidents.c.opened_at >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.incidents.c.id))
            return [Incident(**dict(r._mapping)) for r in rows]

    # -- instances -------------------------------------------------------------------------
    def add_instance(self, instance: Instance) -> None:
        values = dataclasses.asdict(instance)
        values["state"] = instance.state.value
        with self.engine.begin() as conn:
            conn.execute(insert(t.instances).values(values))

    def save_instances(self, instances: list[Instance]) -> None:
        """One statement for all of them (a pass may change a whole fleet's records)."""
        if not instances:
            return
        now = time.time()
        rows = []
        for instance in instances:
            instance.updated_at = now
            row = {f"v_{key}": value for key, value in vars(instance).items()}
            row["v_state"] = instance.state.value
            rows.append(row)
        with self.engine.begin() as conn:
            conn.execute(_SAVE_INSTANCE, rows)

    def instances(self, environment: str) -> list[Instance]:
        """The environment's live instances (not stopped or failed), by slot."""
        query = (
            select(t.instances)
            .where(t.instances.c.environment == environment)
            .where(t.instances.c.state.in_([s.value for s in LIVE]))
            .order_by(t.instances.c.slot, t.instances.c.launched_at)
        )
        with self.engine.connect() as conn:
            return [_instance(r) for r in conn.execute(query)]

    # -- events ----------------------------------------------------------------------------
    def add_event(self, environment: str, text: str, deployment_id: int | None) -> Event:
        event = Event(time.time(), text, deployment_id)
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.events).values(
                    environment=environment, deployment_id=deployment_id, at=event.at, text=text
                )
            )
        return event

    def events(
        self, environment: str, deployment_id: int | None = None, limit: int = 20
    ) -> list[Event]:
        """The newest `limit` events, oldest first (all of a deployment's when one is named)."""
        query = select(t.events).where(t.events.c.environment == environment)
        if deployment_id is not None:
            query = query.where(t.events.c.deployment_id == deployment_id)
        else:
            query = query.order_by(t.events.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = [Event(r.at, r.text, r.deployment_id) for r in conn.execute(query)]
        return sorted(rows, key=lambda e: e.at)

    def prune_events(self, environment: str, keep: int = 10_000) -> None:
        """The agent records an event per action; keep the newest `keep` per environment."""
        with self.engine.begin() as conn:
            newest = conn.execute(
                select(t.events.c.id)
                .where(t.events.c.environment == environment)
                .order_by(t.events.c.id.desc())
                .offset(keep)
                .limit(1)
            ).scalar()
            if newest is not None:
                conn.execute(
                    delete(t.events)
                    .where(t.events.c.environment == environment)
                    .where(t.events.c.id <= newest)
                )

    # -- analyses --------------------------------------------------------------------------
    def add_analysis(self, **fields: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(t.analyses).values(**fields))

    def analyses(self, deployment_id: int) -> list[Analysis]:
        query = (
            select(t.analyses)
            .where(t.analyses.c.deployment_id == deployment_id)
            .order_by(t.analyses.c.id)
        )
        with self.engine.connect() as conn:
            return [Analysis(**r._mapping) for r in conn.execute(query)]
