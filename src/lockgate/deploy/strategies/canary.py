"""Canary: a slice of real traffic to the new version, judged against a baseline, step by step.

Beside the stable set, `canary-replicas` instances of the new digest (pool `canary`) and as many
fresh instances of the stable digest (pool `baseline`) start, so both sides are equally young
and see the same traffic mix in the same window. A weight of w% sends w% to the canary, as
much (up to what is left) to the baseline, and the rest to stable. Analysis steps, and the
background analysis during pauses, compare canary with baseline; a failure aborts at once
(weight 0, canary and baseline removed, stable untouched). Missing data never advances a
step: it pauses for a human (`lockgate promote` / `abort`) or fails, as configured. After the
last step the stable set is rolled to the new digest under the convergence guarantee.

Steps (Rollout.step): 0 canary and baseline start; 1..n the environment's steps; n+1 promoting.
"""

from __future__ import annotations

from ...store.deployments import Instance, InstanceState, Rollout
from ..analysis.judge import FAIL, INCONCLUSIVE
from ..envfile import Step
from ..targets.base import StartFailed
from .base import SIDE_POOLS, Done, Fail, Fleet, Pause, Progress, Wait
from .rolling import check_started, converge

UNITS = 1000  # router weight units shared by all instances


def describe(step: Step) -> str:
    if step.set_weight is not None:
        return f"set weight {step.set_weight}%"
    if step.pause == "until-promoted":
        return "pause until promoted"
    if step.pause is not None:
        return f"pause {float(step.pause):g}s"
    return "analysis"


def shares(percent: int) -> dict[str, int]:
    """Percent of traffic per pool: `percent` to the canary, as much to the baseline (up to
    what is left), the rest to stable."""
    baseline = min(percent, 100 - percent)
    return {"canary": percent, "baseline": baseline, "stable": 100 - percent - baseline}


def instance_weights(percent: int, counts: dict[str, int]) -> dict[str, int]:
    """Router weight of each serving instance per pool, so each pool's total is its share."""
    return {
        pool: round(UNITS * share / 100 / counts[pool]) if counts.get(pool) else 0
        for pool, share in shares(percent).items()
    }


class Canary:
    def step(self, rollout: Rollout, fleet: Fleet) -> Progress:
        steps = fleet.strategy.canary_steps()
        if rollout.previous_digest is None or not steps:  # nothing to compare: roll
            return converge(fleet, rollout, rollout.digest)
        promoted, rollout.promote = rollout.promote, False
        side = [i for i in fleet.instances() if i.pool in SIDE_POOLS]
        if rollout.step == 0:
            return self._start(rollout, fleet, side)
        while rollout.step <= len(steps):
            lost = [i for i in side if fleet.dead(i) or not i.ready]
            if lost:
                return Fail(f"{lost[0].pool} instance {lost[0].id} lost readiness")
            index = rollout.step - 1
            label = f"step {index + 1}/{len(steps)} ({describe(steps[index])})"
            outcome = self._take(rollout, fleet, steps[index], label, promoted)
            if outcome is not None:
                return outcome
            promoted = False
            rollout.step += 1
            rollout.step_started_at, rollout.measured_at = fleet.now, None
        if rollout.weight:
            rollout.weight = 0
            fleet.note("analysis passed: promoting the new digest to the stable set")
        progress = converge(fleet, rollout, rollout.digest)
        if isinstance(progress, Done):
            fleet.retire(side)
        return progress

    def _start(self, rollout: Rollout, fleet: Fleet, side: list[Instance]) -> Progress:
        count, replicas = fleet.strategy.canary_replicas, fleet.replicas
        wanted = [(replicas + i, rollout.digest, "canary") for i in range(count)]
        assert rollout.previous_digest is not None
        wanted += [
            (replicas + count + i, rollout.previous_digest, "baseline") for i in range(count)
        ]
        for slot, digest, pool in wanted:
            if not any(i.slot == slot for i in side):
                try:
                    side.append(fleet.launch(slot, digest, pool))
                except StartFailed as exc:
                    return Fail(f"{pool} instance could not be started: {exc}", None)
        starting = [i for i in side if i.state == InstanceState.STARTING]
        failure = check_started(fleet, rollout, starting, float(fleet.strategy.readiness_timeout))
        if failure is not None:
            return Fail(failure.reason)  # a canary's slot is not one the fleet serves
        if any(not i.ready for i in side):
            return Wait("canary and baseline starting")
        rollout.weight, rollout.step = 0, 1
        rollout.step_started_at = rollout.weight_at = fleet.now
        fleet.serve(side)
        fleet.note(f"canary and baseline ready ({count} each), no traffic yet")
        return self.step(rollout, fleet)

    def _take(
        self, rollout: Rollout, fleet: Fleet, step: Step, label: str, promoted: bool
    ) -> Progress | None:
        """Take one step; None when it is complete and the next may follow."""
        if step.set_weight is not None:
            rollout.weight, rollout.weight_at = step.set_weight, fleet.now
            split = shares(step.set_weight)
            fleet.note(
                f"canary weight {split['canary']}% (baseline {split['baseline']}%, "
                f"stable {split['stable']}%)"
            )
            return None
        if step.pause == "until-promoted":
            if promoted:
                return None
            return Pause(f"{label}: waiting for `lockgate promote {fleet.name}`")
        return self._judge(rollout, fleet, step, label)

    def _judge(self, rollout: Rollout, fleet: Fleet, step: Step, label: str) -> Progress | None:
        """A timed pause (with the background analysis) or an analysis step of `count`
        measurements. More failed measurements than the failure limit fail it; more
        inconclusive ones than the inconclusive limit end it."""
        spec = fleet.strategy.analysis
        began = rollout.step_started_at or fleet.now
        ends = began + float(step.pause) if step.pause is not None else None
        if ends is not None and not spec.background:
            return None if fleet.now >= ends else Wait(label, ends - fleet.now)
        due = (rollout.measured_at or began) + float(spec.interval)
        if ends is not None:
            due = min(due, ends)
        if fleet.now < due:
            return Wait(label, due - fleet.now)
        verdicts = fleet.verdicts(rollout, label)
        verdict = fleet.measure(rollout, label, len(verdicts) + 1)
        verdicts.append(verdict)
        rollout.measured_at = fleet.now
        if verdicts.count(FAIL) > spec.failure_limit:
            return Fail(f"the canary failed analysis at {label}")
        limit = spec.inconclusive_limit
        inconclusive = limit is not None and verdicts.count(INCONCLUSIVE) > limit
        final = fleet.now >= ends - 0.01 if ends is not None else len(verdicts) >= spec.count
        if not (final or inconclusive):
            return Wait(label, float(spec.interval))
        if verdict == FAIL:
            return Fail(f"the canary failed analysis at {label}")
        if verdict == INCONCLUSIVE or inconclusive:
            if spec.on_inconclusive == "fail":
                return Fail(f"analysis at {label} was inconclusive")
            rollout.step += 1  # `lockgate promote` goes on from the next step
            rollout.step_started_at, rollout.measured_at = fleet.now, None
            return Pause(
                f"{label}: inconclusive, so paused; `lockgate promote {fleet.name}` goes on"
            )
        return None

    def abandon(self, rollout: Rollout, fleet: Fleet) -> None:
        """No more canary traffic; canary and baseline go; stable untouched."""
        rollout.weight = 0
        fleet.retire([i for i in fleet.instances() if i.pool in SIDE_POOLS])
