"""Blue-green: start a full new set beside the serving one, let it bake and pass its smoke
checks, optionally wait for approval (a stored pause), switch all traffic in one router change,
and keep the old set on standby for scale-down-delay so a rollback is one router change back.

Steps (Rollout.step): 0 the new set starts and bakes; 1 smoke checks passed, awaiting the
switch; 2 switched.
"""

from __future__ import annotations

from ...store.deployments import Instance, InstanceState, Rollout
from ..targets.base import StartFailed
from .base import SIDE_POOLS, Done, Fail, Fleet, Pause, Progress, Wait
from .rolling import check_started


def other_pool(serving: list[Instance]) -> str:
    return "blue" if any(i.pool == "green" for i in serving) else "green"


class BlueGreen:
    def step(self, rollout: Rollout, fleet: Fleet) -> Progress:
        goal = rollout.digest
        main = [i for i in fleet.instances() if i.pool not in SIDE_POOLS]
        serving = [i for i in main if i.state == InstanceState.SERVING]
        new = [
            i
            for i in main
            if i.deployment_id == rollout.id
            and i.state in (InstanceState.STARTING, InstanceState.READY)
            and i.slot not in fleet.fenced
        ]
        if rollout.step == 0:
            return self._preview(rollout, fleet, serving, new)
        if rollout.step == 1 and fleet.strategy.approval and not rollout.promote:
            return Pause(
                f"the new set is ready; `lockgate promote {fleet.name}` switches", approval=True
            )
        gone = [i for i in new if fleet.dead(i) or not i.ready]
        if gone:
            return Fail(f"instance {gone[0].slot} of the new set lost readiness", gone[0].slot)
        fleet.serve(new)
        fleet.standby(serving)
        rollout.step = 2
        delay = float(fleet.strategy.scale_down_delay)
        fleet.note(f"switched traffic to {goal[:12]}; previous set kept {delay:g}s for rollback")
        return Done(f"all instances run {goal[:12]}")

    def _preview(
        self, rollout: Rollout, fleet: Fleet, serving: list[Instance], new: list[Instance]
    ) -> Progress:
        spec = fleet.strategy
        pool = new[0].pool if new else other_pool(serving)
        wanted = set(range(fleet.replicas)) - fleet.fenced
        for slot in sorted(wanted - {i.slot for i in new}):
            try:
                new.append(fleet.launch(slot, rollout.digest, pool))
            except StartFailed as exc:
                return Fail(f"instance {slot} could not be started: {exc}", slot)
        starting = [i for i in new if i.state == InstanceState.STARTING]
        failure = check_started(fleet, rollout, starting, float(spec.readiness_timeout))
        if failure is not None:
            return failure
        fleet.park([i for i in starting if i.ready])
        lost = [i for i in new if i.state == InstanceState.READY and (fleet.dead(i) or not i.ready)]
        if lost:
            return Fail(f"instance {lost[0].slot} lost readiness during its bake", lost[0].slot)
        bake = float(spec.min_ready_seconds)
        baked = [i for i in new if i.state == InstanceState.READY and i.available(fleet.now, bake)]
        if len(baked) < len(wanted):
            return Wait(f"{pool} set: {len(baked)}/{len(wanted)} ready")
        fleet.note(f"{pool} set ready ({len(baked)} instances)")
        failed = fleet.smoke(baked)
        if failed is not None:
            return Fail(failed)
        fleet.note("smoke checks passed")
        rollout.step = 1
        return self.step(rollout, fleet)

    def abandon(self, rollout: Rollout, fleet: Fleet) -> None:
        """The new set is retired by the reconciler; blue never stopped serving."""
