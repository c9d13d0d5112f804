"""`lockgate status`: where an environment stands, read without changing anything.

It takes no lock and writes nothing, so it answers at once during any rollout. What it shows
is looked at now (each instance's process and readiness, the router's own table), beside the
stored desired state; `assess` turns both into one of healthy, progressing, paused or
degraded, with the reasons and the next command.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..common.httpcheck import Unreachable
from ..store.deployments import DeploymentRecords, Event, InstanceState, Rollout, RolloutStatus
from ..store.overrides import OverrideRecords, OverrideState
from .hostbook import HostBook
from .launch import agent_running
from .reconciler import Reconciler
from .strategies.base import SIDE_POOLS
from .supervision import crash_looping
from .targets.base import Look


class Health(enum.StrEnum):
    HEALTHY = "healthy"
    PROGRESSING = "progressing"
    PAUSED = "paused"
    DEGRADED = "degraded"


@dataclass(frozen=True)
class InstanceView:
    index: int
    id: str
    pool: str
    state: str
    digest: str | None  # as the instance reports it now (None: unknown)
    expected_digest: str
    alive: bool | None  # None: unknown (its host did not answer)
    ready: bool | None
    in_rotation: bool
    weight: int
    requests: int
    address: str | None
    restarts: int
    crash_looping: bool
    host: str
    reachable: bool  # whether its host answered this look


@dataclass(frozen=True)
class HostView:
    name: str
    reachable: bool
    since: float | None  # unreachable since (as the reconciler first saw it)
    last_seen: float | None


@dataclass(frozen=True)
class RolloutSummary:
    id: int
    digest: str
    status: str
    message: str | None
    phase: str | None

    @classmethod
    def of(cls, rollout: Rollout | None) -> RolloutSummary | None:
        if rollout is None:
            return None
        return cls(rollout.id, rollout.digest, rollout.status.value, rollout.message, rollout.phase)


@dataclass(frozen=True)
class Assessment:
    health: Health
    reasons: list[str]
    next: str | None


@dataclass(frozen=True)
class StatusView:
    environment: str
    app: str
    router: str
    router_up: bool
    agent: bool
    health: Health
    reasons: list[str]
    next: str | None
    digest: str | None  # what the fleet should run now
    latest: RolloutSummary | None
    analysis: str | None
    instances: list[InstanceView]
    hosts: list[HostView] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # break-glass in force or pending


def clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at is not None else "never"


def assess(
    name: str,
    replicas: int,
    rollout: Rollout | None,
    instances: list[InstanceView],
    router_up: bool,
    agent: bool,
    hosts: Sequence[HostView] = (),
    now: float = 0.0,  # for how long a host has been unreachable
) -> Assessment:
    """Health from the desired state and what was seen; pure, so its rules are tested alone."""
    reasons = []
    if instances and not router_up:
        reasons.append("the router is down")
    for host in hosts:
        if not host.reachable:
            since = host.since if host.since is not None else now
            reasons.append(
                f"host {host.name} is unreachable since {clock(since)} ({now - since:.0f}s; "
                f"last seen {clock(host.last_seen)}): its instances are out of rotation"
            )
    for view in instances:
        if view.state != InstanceState.SERVING.value or not view.reachable:
            continue
        if not view.alive:
            looping = f", crash-looping ({view.restarts} restarts)" if view.crash_looping else ""
            reasons.append(f"instance {view.index} is not running{looping}")
        elif not view.ready:
            reasons.append(f"instance {view.index} is not ready (out of rotation)")
        elif view.digest != view.expected_digest:
            reasons.append(
                f"instance {view.index} runs {str(view.digest)[:12]}, not "
                f"{view.expected_digest[:12]}"
            )
    at_rest = rollout is None or rollout.status.finished
    goal = rollout.settled if rollout is not None else None
    if at_rest and goal is not None and instances:
        main = [
            v
            for v in instances
            if v.state == InstanceState.SERVING.value and v.pool not in SIDE_POOLS
        ]
        for index in range(replicas):
            mine = [v for v in main if v.index == index]
            if not mine:
                reasons.append(f"instance {index} is not serving")
            elif all(v.expected_digest != goal for v in mine):
                reasons.append(
                    f"instance {index} is on {mine[0].expected_digest[:12]}, not {goal[:12]}"
                )
    if reasons:
        repair = (
            "the agent is repairing it (its events show how); if it does not recover: "
            f"lockgate rollback {name}"
            if agent
            else f"nothing supervises {name}: start the agent with `lockgate agent`"
        )
        return Assessment(Health.DEGRADED, reasons, repair)
    if rollout is not None and rollout.status.waiting:
        return Assessment(
            Health.PAUSED,
            [rollout.message or rollout.status.value],
            f"lockgate promote {name} (or lockgate abort {name})",
        )
    if rollout is not None and rollout.status.active:
        moving = (
            "a rollout is running; wait for it"
            if agent
            else ("no agent is running to carry the rollout on: start it with `lockgate agent`")
        )
        return Assessment(Health.PROGRESSING, [rollout.phase or rollout.status.value], moving)
    if rollout is not None and rollout.status == RolloutStatus.STOPPED:
        again = "lockgate deploy ENV_FILE --artifact DIGEST starts it again"
        return Assessment(Health.HEALTHY, [rollout.message or "stopped"], again)
    fix = None
    if rollout is not None and rollout.status in (
        RolloutStatus.FAILED,
        RolloutStatus.ROLLED_BACK,
        RolloutStatus.ABORTED,
    ):
        fix = f"deploy a fix: lockgate deploy ENV_FILE --artifact DIGEST ({name} is consistent)"
    return Assessment(Health.HEALTHY, [], fix)


def view(reconciler: Reconciler) -> StatusView:
    """Look now, change nothing."""
    records, name = reconciler.records, reconciler.name
    rollout = records.latest(name)
    instances = records.instances(name)
    try:
        table = {r.id: r for r in reconciler.router.table()}
        router_up = True
    except (Unreachable, OSError, ValueError):
        table, router_up = {}, False

    live = [i for i in instances if i.state != InstanceState.STOPPING]
    seen = reconciler.target.observe([Look(i, reconciler.releases.app(i.digest)) for i in live])
    hosts = _hosts(reconciler)
    views = []
    for instance, observed in zip(live, seen, strict=True):
        route = table.get(instance.id)
        views.append(
            InstanceView(
                index=instance.slot,
                id=instance.id,
                pool=instance.pool,
                state=instance.state.value,
                digest=observed.digest,
                expected_digest=instance.digest,
                # Nothing is known of an instance whose host does not answer: not "dead".
                alive=observed.alive if observed.reachable else None,
                ready=observed.ready if observed.reachable else None,
                in_rotation=route is not None and route.weight > 0,
                weight=route.weight if route else 0,
                requests=route.requests if route else 0,
                address=instance.address,
                restarts=instance.restarts,
                crash_looping=crash_looping(instance),
                host=reconciler.target.placement(instance.slot),
                reachable=observed.reachable,
            )
        )
    agent = agent_running(reconciler.state_dir)
    replicas = reconciler.spec.target.replicas
    judged = assess(name, replicas, rollout, views, router_up, agent, hosts, time.time())
    analyses = records.analyses(rollout.id) if rollout else []
    return StatusView(
        environment=name,
        app=reconciler.spec.app,
        router=reconciler.router.address,
        router_up=router_up,
        agent=agent,
        health=judged.health,
        reasons=judged.reasons,
        next=judged.next,
        digest=rollout.settled if rollout is not None else None,
        latest=RolloutSummary.of(rollout),
        analysis=analyses[-1].reason if analyses else None,
        instances=views,
        hosts=hosts,
        events=records.events(name),
        overrides=standing_overrides(records, name),
    )


def standing_overrides(records: DeploymentRecords, name: str) -> list[str]:
    """Break-glass overrides in force or waiting for approval, as status says them."""
    now = time.time()
    standing = (OverrideState.ACTIVE, OverrideState.PENDING)
    found = OverrideRecords(records.store).of(name)
    return [o.describe(now) for o in found if o.state(now) in standing]


def _hosts(reconciler: Reconciler) -> list[HostView]:
    """The hosts as this look found them, with since when (as the reconciler recorded it)."""
    book = HostBook(reconciler.dir / "hosts.json")  # read, not written
    views = []
    for host in reconciler.target.hosts():
        known = book.known.get(host.name)
        recorded = known is not None and not known.reachable
        views.append(
            HostView(
                host.name,
                host.reachable,
                None if host.reachable else (known.since if known and recorded else None),
                host.last_seen or (known.last_seen if known else None),
            )
        )
    return views
