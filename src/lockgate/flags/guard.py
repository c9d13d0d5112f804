"""Guarded rollouts: a flag served to more users in steps (1%, 10%, 50%, 100% ...), each step
judged like a canary. The users a flag is on for are the canary, those it is off for the
baseline; their requests' error rate and latency (observed by the SDKs, or a Prometheus query
with `$POOL` as the side) go through the same analysis as a canary's. A regression switches
the flag off by itself and records why; a step that passes its bake time goes on to the next.

At 100% nobody is left to compare with, so reaching 100% completes the rollout: the step
before it is the last one judged. A change to the flag by hand (switched off, another
percentage) takes the flag over: the guard lets go and says so.

The guard keeps its state in the store and each move is a compare-and-set, so a server killed
at any point goes on from where it was: a step whose percentage may not be in the flag yet is
applied again; a switch-off that was decided is carried out."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..common.errors import UserError
from ..deploy.analysis.judge import FAIL, INCONCLUSIVE, PASS, MetricResult, score
from ..deploy.analysis.measure import compare_sides
from ..deploy.envfile import AnalysisSpec
from ..store.flagrollouts import GuardedRollout, RolloutRecords, RolloutState
from .definitions import Feature
from .observations import MAX_AGE, ObservationProvider
from .service import FlagService

OFF = "off"  # the side of users the flag is off for: the baseline
KEPT_SAMPLES = 500  # per side and metric, for the charts (the judge sees them all)
FORGET_EVERY = 60.0  # seconds between sweeps of observations too old to judge
log = logging.getLogger(__name__)


class GuardSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    steps: list[int] = Field(min_length=1)  # percentages, rising
    bake: float = Field(300.0, ge=0)  # seconds each step must pass before the next
    window: float = Field(120.0, gt=0, le=MAX_AGE)  # seconds of observations a measurement judges
    analysis: AnalysisSpec = AnalysisSpec()

    @field_validator("steps")
    @classmethod
    def _rising(cls, steps: list[int]) -> list[int]:
        if any(not 1 <= s <= 100 for s in steps):
            raise ValueError("each step is a percentage from 1 to 100")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("steps must rise (1, 10, 50, 100)")
        return steps


Move = Literal["wait", "advance", "hold", "fail"]


def decide(verdicts: Sequence[str], spec: GuardSpec, baked: bool) -> Move:
    """What a step's measurements so far (oldest first) mean: switch off (`fail`), go on
    (`advance`), stay for good measure (`hold`: inconclusive after the bake), or keep
    measuring (`wait`)."""
    analysis = spec.analysis
    if verdicts.count(FAIL) > analysis.failure_limit:
        return "fail"
    if not baked or not verdicts:
        return "wait"
    latest = verdicts[-1]
    if latest == PASS:
        return "advance"
    if latest == INCONCLUSIVE:
        return "fail" if analysis.on_inconclusive == "fail" else "hold"
    return "wait"  # a failure within the failure limit: measure again


def percent(feature: Feature) -> int | None:
    """The share of users the flag is on for (None: off)."""
    if not feature.enabled:
        return None
    for strategy in feature.strategies:
        if strategy.name == "flexibleRollout" and not strategy.disabled:
            return int(strategy.parameters.get("rollout", "100") or 0)
    return 100


def treatment_sides(feature: Feature) -> list[str]:
    """The sides judged against `off`: each variant, or `on` for a flag without variants."""
    names = [v.name for s in feature.strategies for v in s.variants]
    names += [v.name for v in feature.variants]
    return list(dict.fromkeys(names)) or ["on"]


@dataclass(frozen=True)
class Measured:
    verdict: str
    reason: str
    verdicts: list[str]  # the step's measurements so far, this one last


class Guard:
    def __init__(self, service: FlagService, records: RolloutRecords) -> None:
        self.service, self.records = service, records
        self.forgotten_at = 0.0

    # -- people --------------------------------------------------------------------------------
    def start(self, flag: str, environment: str, spec: GuardSpec, actor: str) -> GuardedRollout:
        feature = self.service.feature(flag, environment)  # a live flag, a valid environment
        if (percent(feature) or 0) >= spec.steps[-1]:
            raise UserError(
                f"flag {flag!r} is already on for {percent(feature)}% in {environment}",
                hint="a guarded rollout raises the share: give steps above it",
            )
        rollout_id = self.records.start(
            flag, environment, spec.model_dump(mode="json", by_alias=True), actor
        )
        found = self.records.get(rollout_id)
        assert found is not None
        return found

    def stop(self, flag: str, environment: str, actor: str) -> GuardedRollout:
        for rollout in self.records.active():
            if rollout.flag == flag and rollout.environment == environment:
                said = f"stopped by {actor}; the flag stays as it is"
                moved = self.records.move(rollout, state=RolloutState.STOPPED, reason=said)
                if moved is not None:
                    return moved
        raise UserError(f"no guarded rollout of {flag!r} is running in {environment}")

    # -- the guard's pass ----------------------------------------------------------------------
    def tick(self, now: float) -> bool:
        """One look at every active rollout (a problem with one never stops the others);
        whether any is active."""
        active = self.records.active()
        for rollout in active:
            try:
                self._advance(rollout, now)
            except UserError as exc:  # the flag was archived, or its definition broke
                self.records.move(rollout, state=RolloutState.STOPPED, reason=str(exc))
            except Exception:  # logged; the next pass tries again
                log.exception("guarded rollout #%s", rollout.id)
        if active and now - self.forgotten_at > FORGET_EVERY:
            self.records.forget_observations(before=now - MAX_AGE)
            self.forgotten_at = now
        return bool(active)

    def _advance(self, rollout: GuardedRollout, now: float) -> None:
        spec = GuardSpec.model_validate(rollout.spec)
        actor = f"guarded rollout #{rollout.id}"
        feature = self.service.feature(rollout.flag, rollout.environment)
        if rollout.state == RolloutState.ROLLING_BACK:
            if feature.enabled:
                self.service.switch(rollout.flag, rollout.environment, False, actor,
                                    because=rollout.reason)  # fmt: skip
            self.records.move(rollout, state=RolloutState.ROLLED_BACK)
            return
        wanted = spec.steps[rollout.step]
        if not rollout.applied:
            self.service.rollout(rollout.flag, rollout.environment, wanted, actor,
                                 stickiness=_stickiness(feature))  # fmt: skip
            self.records.move(rollout, applied=True, step_started_at=now, measured_at=None,
                              reason=f"at {wanted}%: baking")  # fmt: skip
            return
        held = percent(feature)
        if held != wanted:
            said = "switched off" if held is None else f"set to {held}%"
            self.records.move(rollout, state=RolloutState.STOPPED,
                              reason=f"the flag was {said} by hand; the guard let go")  # fmt: skip
            return
        if wanted == 100:
            self.records.move(rollout, state=RolloutState.COMPLETED, reason="on for everyone")
            return
        began = rollout.step_started_at or now
        if now < (rollout.measured_at or began) + float(spec.analysis.interval):
            return
        label = f"step {rollout.step + 1} ({wanted}%)"
        measured = self._measure(rollout, feature, spec, label, max(began, now - spec.window), now)
        move = decide(measured.verdicts, spec, baked=now >= began + spec.bake)
        if move == "fail":
            why = f"{label}: {measured.reason}"
            moved = self.records.move(rollout, state=RolloutState.ROLLING_BACK, reason=why)
            if moved is not None:
                self._advance(moved, now)
        elif move == "advance" and rollout.step + 1 == len(spec.steps):
            self.records.move(rollout, state=RolloutState.COMPLETED, measured_at=now,
                              reason=f"{label} passed: the rollout is complete")  # fmt: skip
        elif move == "advance":
            self.records.move(rollout, step=rollout.step + 1, applied=False, measured_at=now,
                              reason=f"{label} passed")  # fmt: skip
        else:
            words = "holding: inconclusive after the bake" if move == "hold" else "measuring"
            self.records.move(rollout, measured_at=now, reason=f"{label}: {words}; "
                              f"{measured.reason}")  # fmt: skip

    def _measure(
        self,
        rollout: GuardedRollout,
        feature: Feature,
        spec: GuardSpec,
        label: str,
        since: float,
        until: float,
    ) -> Measured:
        """Each side the flag is on for against those it is off for, stored as one
        measurement of the step."""
        provider = ObservationProvider(self.records, rollout.flag, rollout.environment)
        sides = treatment_sides(feature)
        results: list[MetricResult] = []
        kept: dict[str, dict[str, list[float]]] = {}
        for side in sides:
            found, samples = compare_sides(spec.analysis, provider, since, until, (side, OFF))
            for result in found:
                metric = result.name
                if len(sides) > 1:
                    result.name = f"{metric} [{side}]"
                results.append(result)
                kept[result.name] = {k: _thinned(v) for k, v in samples.get(metric, {}).items()}
        judged = score(results, float(spec.analysis.pass_score),
                       float(spec.analysis.marginal_score))  # fmt: skip
        earlier = [a.verdict for a in self.records.analyses(rollout.id, label)]
        self.records.add_analysis(
            rollout_id=rollout.id, step=label, measurement=len(earlier) + 1, started_at=since,
            finished_at=until, verdict=judged.verdict, score=judged.score,
            reason=judged.reason, metrics=[vars(r) for r in results], samples=kept,
        )  # fmt: skip
        return Measured(judged.verdict, judged.reason, [*earlier, judged.verdict])


def _thinned(values: list[float]) -> list[float]:
    """At most KEPT_SAMPLES of `values`, evenly spread."""
    if len(values) <= KEPT_SAMPLES:
        return values
    stride = len(values) / KEPT_SAMPLES
    return [values[int(i * stride)] for i in range(KEPT_SAMPLES)]


def _stickiness(feature: Feature) -> str:
    for strategy in feature.strategies:
        if strategy.name == "flexibleRollout":
            return strategy.parameters.get("stickiness", "default")
    return "default"
