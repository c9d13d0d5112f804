"""Keeping a converged fleet converged between rollouts: crashed instances start again with
exponential backoff, an instance that fails readiness leaves rotation until it answers again,
an instance found on another release than its record's is replaced, and standby instances go
once their scale-down delay is over. Every action is an event.

Instances a rollout in progress or paused is still waiting on (starting, baking, a blue-green
preview, canary and baseline) are the rollout's to judge, not restarted here.
"""

from __future__ import annotations

from ..store.deployments import Instance, InstanceState, Rollout
from .fleet import LiveFleet
from .strategies.base import SIDE_POOLS
from .targets.base import StartFailed

FIRST_BACKOFF = 1.0  # seconds before the second restart; doubled for each further one
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0  # ready this long after a restart: the backoff starts over
CRASH_LOOP = 3  # restarts without staying up: reported as crash-looping

REFUSED_RETRY = 60.0  # seconds before a restart the policies refused is asked again


def backoff(restarts: int) -> float:
    """Seconds before the next start of an instance that already restarted `restarts` times:
    at once the first time, then 1, 2, 4 ... up to 30 seconds."""
    if restarts == 0:
        return 0.0
    return float(min(FIRST_BACKOFF * 2 ** (restarts - 1), MAX_BACKOFF))


def crash_looping(instance: Instance) -> bool:
    return instance.restarts >= CRASH_LOOP and not instance.ready


def _rollout_owns(instance: Instance, rollout: Rollout | None, fleet: LiveFleet) -> bool:
    """Instances a rollout in progress or paused judges: not restarted behind its back."""
    if rollout is None or rollout.status.finished:
        return False
    if instance.pool in SIDE_POOLS:
        return True
    bake = float(fleet.strategy.min_ready_seconds)
    return instance.deployment_id == rollout.id and not instance.available(fleet.now, bake)


def supervise(fleet: LiveFleet, rollout: Rollout | None) -> float:
    """One supervision pass; returns seconds until a restart is due (or a large number)."""
    next_due = 3600.0
    for instance in fleet.instances():
        if instance.state not in (InstanceState.SERVING, InstanceState.STANDBY):
            continue
        if _rollout_owns(instance, rollout, fleet):
            continue
        if instance.state == InstanceState.STANDBY:
            if fleet.dead(instance):
                fleet.retire([instance])
                fleet.note(f"standby instance {instance.slot} exited; it is no longer kept")
            continue
        since = instance.ready_since
        if instance.restarts and since is not None and fleet.now - since >= STABLE_AFTER:
            fleet.set(instance, restarts=0)
        if fleet.dead(instance):
            next_due = min(next_due, _restart_crashed(fleet, instance))
        elif fleet.drifted(instance) and (instance.retry_at or 0) <= fleet.now:
            # (a replacement the policies refused is asked again only at its retry_at)
            seen = fleet.seen[instance.id].digest or "?"
            fleet.note(
                f"instance {instance.slot} runs {seen[:12]}, not {instance.digest[:12]} "
                "(drift): out of rotation, replacing it"
            )
            _start_again(fleet, instance)
        elif instance in fleet.readiness_changed:
            if instance.ready:
                fleet.note(f"instance {instance.slot} is ready again: back in rotation")
            else:
                fleet.note(f"instance {instance.slot} failed its readiness check: out of rotation")
    return next_due


def _restart_crashed(fleet: LiveFleet, instance: Instance) -> float:
    if instance.retry_at is None:
        delay = backoff(instance.restarts)
        fleet.set(instance, retry_at=fleet.now + delay, ready=False, ready_since=None)
        looping = (
            f"; crash-looping ({instance.restarts} restarts)" if crash_looping(instance) else ""
        )
        when = "now" if delay == 0 else f"in {delay:g}s"
        fleet.note(f"instance {instance.slot} exited: out of rotation, restarting {when}{looping}")
    assert instance.retry_at is not None
    if fleet.now < instance.retry_at:
        return instance.retry_at - fleet.now
    _start_again(fleet, instance)
    return 3600.0


def _start_again(fleet: LiveFleet, instance: Instance) -> None:
    refusal = fleet.vet(instance.digest, "repair")
    if refusal is not None:  # out of rotation, asked again later: policies change
        fleet.set(instance, retry_at=fleet.now + REFUSED_RETRY, ready=False, ready_since=None)
        fleet.note(f"instance {instance.slot} not started again: {refusal}")
        return
    try:
        fleet.start_again(instance)
    except StartFailed as exc:  # start() recorded it failed; it is out of the fleet
        fleet.note(f"instance {instance.slot} could not be started again: {exc}")
        return
    fleet.note(f"instance {instance.slot} started again (restart {instance.restarts})")


def reap_standby(fleet: LiveFleet, rollout: Rollout | None) -> None:
    """Standby instances go once the rollout that parked them is past scale-down-delay."""
    if rollout is None or not rollout.status.finished or rollout.finished_at is None:
        return
    if fleet.now < rollout.finished_at + float(fleet.strategy.scale_down_delay):
        return
    kept = [i for i in fleet.instances() if i.state == InstanceState.STANDBY]
    if kept:
        fleet.retire(kept)
        fleet.note(f"scale-down delay over: {len(kept)} standby instances stopped")
