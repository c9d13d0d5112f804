"""Rolling update: replace instances slot by slot, never below N - maxUnavailable available
instances and never above N + maxSurge running ones (Kubernetes' Deployment arithmetic).

`plan` is the pure arithmetic; `converge` applies it to the fleet one pass at a time. A new
instance serves as soon as it is ready, but counts as available (and lets the old instance of
its slot go) only once it stayed ready for min-ready-seconds; a new instance that dies or loses
readiness before that fails the rollout.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ...store.deployments import Instance, InstanceState, Rollout
from ..envfile import surge, unavailable
from ..targets.base import StartFailed
from .base import SIDE_POOLS, Done, Fail, Fleet, Progress, Wait

ACTIVE = (InstanceState.STARTING, InstanceState.READY, InstanceState.SERVING)


class New(enum.Enum):
    NONE = "none"  # no instance of the goal digest in this slot yet
    STARTING = "starting"
    BAKING = "baking"  # serving, not yet ready for min-ready-seconds
    AVAILABLE = "available"


@dataclass(frozen=True)
class Slot:
    index: int
    old: bool  # an instance of another digest serves here
    old_ready: bool
    new: New


@dataclass(frozen=True)
class Plan:
    retire: list[int]  # slots whose old instance goes
    launch: list[int]  # slots that get a new instance


def plan(replicas: int, max_surge: int, max_unavailable: int, slots: Sequence[Slot]) -> Plan:
    """This pass's moves: old instances replaced by available new ones go; new instances start
    while running ones stay within N + surge; more old ones go first while availability stays
    at N - unavailable or more."""
    retire = [s.index for s in slots if s.old and s.new is New.AVAILABLE]
    running = sum(1 for s in slots if s.old and s.index not in retire)
    running += sum(1 for s in slots if s.new is not New.NONE)
    available = sum(1 for s in slots if s.new is New.AVAILABLE)
    available += sum(1 for s in slots if s.old and s.old_ready and s.index not in retire)
    needed = [s for s in slots if s.new is New.NONE]
    launch = []
    room = replicas + max_surge - running
    for slot in sorted(needed, key=lambda s: s.old):  # empty slots first: nothing to displace
        if room <= 0:
            break
        launch.append(slot.index)
        room -= 1
    spare = available - (replicas - max_unavailable)
    for slot in needed:
        if slot.index in launch or not slot.old:
            continue
        if slot.old_ready:  # an unready one is not available: replacing it costs nothing
            if spare <= 0:
                continue
            spare -= 1
        retire.append(slot.index)
        launch.append(slot.index)
    return Plan(retire, launch)


def _slot_of(instances: list[Instance], goal: str, index: int, now: float, bake: float) -> Slot:
    mine = [i for i in instances if i.slot == index]
    old = [i for i in mine if i.state == InstanceState.SERVING and i.digest != goal]
    new = [i for i in mine if i.digest == goal and i.state in ACTIVE]
    if not new:
        phase = New.NONE
    elif any(i.state == InstanceState.SERVING and i.available(now, bake) for i in new):
        phase = New.AVAILABLE
    elif any(i.state == InstanceState.SERVING for i in new):
        phase = New.BAKING
    else:
        phase = New.STARTING
    return Slot(index, bool(old), any(i.ready for i in old), phase)


def check_started(
    fleet: Fleet, rollout: Rollout, started: Sequence[Instance], timeout: float
) -> Fail | None:
    """A new instance that exited (twice: the first exit may be a lost race for its port),
    or was not ready in time, fails the rollout."""
    for instance in started:
        if fleet.dead(instance) and instance.restarts == 0:
            fleet.note(f"instance {instance.slot} exited before it was ready: starting it again")
            try:
                fleet.start_again(instance)
                continue
            except StartFailed as exc:
                return Fail(f"instance {instance.slot} could not be started: {exc}", instance.slot)
        if fleet.dead(instance):
            return Fail(
                f"instance {instance.slot} exited before it was ready (log: "
                f"{fleet.log_of(instance)})",
                instance.slot,
            )
        if not instance.ready and fleet.now - instance.launched_at > timeout:
            return Fail(
                f"instance {instance.slot} was not ready within {timeout:g}s", instance.slot
            )
    return None


def check_baking(fleet: Fleet, rollout: Rollout, instances: Sequence[Instance]) -> Fail | None:
    """An instance of this rollout that dies or loses readiness before it baked fails it."""
    bake = float(fleet.strategy.min_ready_seconds)
    for instance in instances:
        if instance.deployment_id != rollout.id or instance.available(fleet.now, bake):
            continue
        during = f"during its bake ({bake:g}s)" if bake else "just after it became ready"
        if fleet.dead(instance):
            return Fail(
                f"instance {instance.slot} exited {during} (log: {fleet.log_of(instance)})",
                instance.slot,
            )
        if not instance.ready:
            return Fail(f"instance {instance.slot} lost readiness {during}", instance.slot)
    return None


def _main(fleet: Fleet) -> list[Instance]:
    """The main set's instances, without those of fenced slots."""
    return [i for i in fleet.instances() if i.pool not in SIDE_POOLS and i.slot not in fleet.fenced]


def converge(fleet: Fleet, rollout: Rollout, goal: str, since: float | None = None) -> Progress:
    """One pass of bringing every slot's main instance to `goal` (fenced slots left out: their
    host converges when it answers again); the progress deadline counts from `since`
    (default: when the rollout's step began)."""
    spec, replicas, now = fleet.strategy, fleet.replicas, fleet.now
    bake = float(spec.min_ready_seconds)
    main = _main(fleet)
    pool = next((i.pool for i in main if i.state == InstanceState.SERVING), "stable")
    _bring_back_standby(fleet, main, goal, replicas)
    main = _main(fleet)
    started = [i for i in main if i.digest == goal and i.state == InstanceState.STARTING]
    failure = check_started(fleet, rollout, started, float(spec.readiness_timeout))
    serving_goal = [i for i in main if i.digest == goal and i.state == InstanceState.SERVING]
    failure = failure or check_baking(fleet, rollout, serving_goal)
    if failure is not None:
        return failure
    fleet.serve([i for i in main if i.digest == goal and i.ready and i.state in ACTIVE[:2]])
    indices = [s for s in range(replicas) if s not in fleet.fenced]
    slots = [_slot_of(main, goal, s, now, bake) for s in indices]
    moves = plan(len(slots), surge(spec, replicas), unavailable(spec, replicas), slots)
    fleet.retire(
        [
            i
            for i in main
            if i.slot in moves.retire and i.state == InstanceState.SERVING and i.digest != goal
        ]
    )
    for slot in moves.launch:
        try:
            fleet.launch(slot, goal, pool)
        except StartFailed as exc:
            return Fail(f"instance {slot} could not be started: {exc}", slot)
    # Old instances retired in this pass are gone as far as convergence goes.
    done = sum(
        1 for s in slots if s.new is New.AVAILABLE and (not s.old or s.index in moves.retire)
    )
    if done == len(slots):
        extra = [i for i in main if i.slot >= replicas or i.digest != goal]
        fleet.retire([i for i in extra if i.state != InstanceState.STANDBY])
        if fleet.fenced:
            return Done(f"{done} instances run {goal[:12]}; {len(fleet.fenced)} fenced")
        return Done(f"all instances run {goal[:12]}")
    began = since or rollout.step_started_at or rollout.started_at
    if now - began > float(spec.progress_deadline):
        late = next(s.index for s in slots if s.new is not New.AVAILABLE)
        return Fail(f"the progress deadline ({spec.progress_deadline}s) passed", late)
    return Wait(f"{done}/{len(slots)} instances on {goal[:12]}")


def _bring_back_standby(fleet: Fleet, main: list[Instance], goal: str, replicas: int) -> None:
    """Standby instances already on `goal` and healthy go back into rotation, in one router
    change taking their slots' other instances out (a blue-green rollback)."""
    back: list[Instance] = []
    displaced: list[Instance] = []
    for instance in main:
        if instance.state != InstanceState.STANDBY or instance.digest != goal:
            continue
        if instance.slot >= replicas or instance.slot in {i.slot for i in back}:
            continue
        if any(i.slot == instance.slot and i.digest == goal and i.state in ACTIVE for i in main):
            continue
        if fleet.healthy_now(instance):
            back.append(instance)
            displaced += [
                i for i in main if i.slot == instance.slot and i.state == InstanceState.SERVING
            ]
    if back:
        fleet.serve(back, retire=displaced)
        fleet.note(f"{len(back)} standby instances on {goal[:12]} back in rotation")


class Rolling:
    def step(self, rollout: Rollout, fleet: Fleet) -> Progress:
        goal = rollout.goal
        assert goal is not None
        return converge(fleet, rollout, goal)

    def abandon(self, rollout: Rollout, fleet: Fleet) -> None:
        """Nothing beyond the main set: the reconciler converges it back."""
