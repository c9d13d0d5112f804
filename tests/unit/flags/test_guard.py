"""Guarded rollouts: the decision rules, and the guard's passes over a real SQLite store with
observations written as an SDK's would be, on a clock the test moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.deploy.analysis.judge import FAIL, INCONCLUSIVE, PASS
from lockgate.deploy.envfile import AnalysisSpec, MetricSpec
from lockgate.flags.definitions import Feature, Strategy, Variant
from lockgate.flags.guard import Guard, GuardSpec, decide, percent, treatment_sides
from lockgate.flags.service import FlagService
from lockgate.store import Store
from lockgate.store.flagrollouts import Observation, RolloutRecords, RolloutState
from lockgate.store.flags import FlagRecords

T0 = 1_800_000_000.0
ERRORS_ONLY = AnalysisSpec.model_validate(
    {"interval": 1, "min-samples": 20, "metrics": [{"name": "error-rate", "tolerance": 0.02}]}
)


def spec(**overrides: object) -> GuardSpec:
    fields: dict[str, object] = {"steps": [10, 50, 100], "bake": 2, "window": 10,
                                 "analysis": ERRORS_ONLY, **overrides}  # fmt: skip
    return GuardSpec.model_validate(fields)


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    store = Store(f"sqlite:///{tmp_path / 'flags.db'}")
    service = FlagService(FlagRecords(store))
    service.create("checkout", "release", "", "ana")
    return Guard(service, RolloutRecords(store))


def traffic(guard: Guard, at: float, failing: dict[str, int]) -> None:
    """100 requests a side, `failing[side]` of them failed."""
    for side in ("on", "off"):
        bad = failing.get(side, 0)
        seen = [Observation(side, at, 0.01, n < bad) for n in range(100)]
        guard.records.observe("checkout", "production", seen)


def run(guard: Guard, seconds: int, failing: dict[str, int], start: float = T0) -> float:
    """A pass a second with a second's traffic before each; the clock after."""
    now = start
    for _ in range(seconds):
        now += 1
        traffic(guard, now - 0.5, failing)
        guard.tick(now)
    return now


def state(guard: Guard) -> tuple[RolloutState, int, int | None]:
    rollout = guard.records.recent()[0]
    feature = guard.service.feature("checkout", "production")
    return rollout.state, rollout.step, percent(feature)


def test_the_rules_switch_off_on_failure_and_advance_only_after_a_passing_bake() -> None:
    assert decide([FAIL], spec(), baked=False) == "fail"
    assert decide([PASS], spec(), baked=False) == "wait"
    assert decide([PASS, PASS], spec(), baked=True) == "advance"
    assert decide([PASS, INCONCLUSIVE], spec(), baked=True) == "hold"
    assert decide([], spec(), baked=True) == "wait"
    lenient = spec(analysis=ERRORS_ONLY.model_copy(update={"failure_limit": 1}))
    assert decide([FAIL], lenient, baked=True) == "wait"
    assert decide([FAIL, FAIL], lenient, baked=True) == "fail"
    strict = spec(analysis=ERRORS_ONLY.model_copy(update={"on_inconclusive": "fail"}))
    assert decide([INCONCLUSIVE], strict, baked=True) == "fail"


def test_sides_and_shares_read_from_the_flag() -> None:
    off = Feature(name="f", enabled=False)
    assert percent(off) is None
    assert percent(Feature(name="f", enabled=True)) == 100
    rolled = Strategy(name="flexibleRollout", parameters={"rollout": "10"},
                      variants=(Variant(name="blue", weight=1), Variant(name="red", weight=1)))  # fmt: skip
    feature = Feature(name="f", enabled=True, strategies=(rolled,))
    assert percent(feature) == 10
    assert treatment_sides(feature) == ["blue", "red"]
    assert treatment_sides(Feature(name="f", enabled=True)) == ["on"]


def test_steps_must_rise_within_1_to_100() -> None:
    for steps in ([], [50, 10], [0, 10], [10, 101], [10, 10]):
        with pytest.raises(ValueError):
            spec(steps=steps)


def test_a_healthy_flag_climbs_every_step_to_everyone(guard: Guard) -> None:
    guard.start("checkout", "production", spec(), "ana")
    run(guard, 30, {})
    assert state(guard) == (RolloutState.COMPLETED, 2, 100)
    summaries = [c.summary for c in guard.service.records.changes("checkout")]
    assert [s for s in summaries if s.startswith("rolled out")] == [
        f"rolled out to {p}% in production (stickiness default)" for p in (100, 50, 10)
    ]
    verdicts = {a.step: a.verdict for a in guard.records.analyses(guard.records.recent()[0].id)}
    assert verdicts == {"step 1 (10%)": PASS, "step 2 (50%)": PASS}


def test_a_regression_switches_the_flag_off_and_says_why(guard: Guard) -> None:
    guard.start("checkout", "production", spec(), "ana")
    now = run(guard, 5, {})  # healthy at 10%, then on to 50%
    assert state(guard)[1] == 1
    run(guard, 5, {"on": 30}, start=now)
    rolled, step, share = state(guard)
    assert (rolled, step, share) == (RolloutState.ROLLED_BACK, 1, None)
    reason = guard.records.recent()[0].reason
    assert reason.startswith("step 2 (50%): ") and "error-rate" in reason, reason
    last = guard.service.records.changes("checkout")[0]
    assert last.actor.startswith("guarded rollout #") and last.summary.startswith(
        "disabled in production: step 2 (50%)"
    )


def test_too_few_observations_never_advance(guard: Guard) -> None:
    guard.start("checkout", "production", spec(), "ana")
    now = T0
    for _ in range(10):
        now += 1
        guard.tick(now)  # nobody reports anything
    assert state(guard) == (RolloutState.RUNNING, 0, 10)
    assert "too few samples" in guard.records.recent()[0].reason


def test_a_change_by_hand_takes_the_flag_over(guard: Guard) -> None:
    guard.start("checkout", "production", spec(), "ana")
    now = run(guard, 2, {})
    guard.service.rollout("checkout", "production", 30, "bob")
    run(guard, 1, {}, start=now)
    rolled, _, share = state(guard)
    assert (rolled, share) == (RolloutState.STOPPED, 30)
    assert guard.records.recent()[0].reason == "the flag was set to 30% by hand; the guard let go"


def test_a_decision_cut_short_by_a_kill_is_carried_out(guard: Guard) -> None:
    """The store says what was decided; the next pass finishes it."""
    started = guard.start("checkout", "production", spec(), "ana")
    run(guard, 1, {})
    decided = guard.records.move(guard.records.get(started.id),  # type: ignore[arg-type]
                                 state=RolloutState.ROLLING_BACK, reason="step 1: worse")  # fmt: skip
    assert decided is not None and percent(guard.service.feature("checkout", "production")) == 10
    guard.tick(T0 + 5)
    assert state(guard) == (RolloutState.ROLLED_BACK, 0, None)
    # a step moved on whose percentage never reached the flag: the next pass applies it
    again = guard.start("checkout", "production", spec(steps=[20, 60]), "ana")
    guard.tick(T0 + 6)
    assert percent(guard.service.feature("checkout", "production")) == 20
    moved = guard.records.move(guard.records.get(again.id), step=1, applied=False)  # type: ignore[arg-type]
    assert moved is not None
    guard.tick(T0 + 7)
    assert state(guard) == (RolloutState.RUNNING, 1, 60)


def test_a_second_rollout_of_the_same_flag_is_refused(guard: Guard) -> None:
    guard.start("checkout", "production", spec(), "ana")
    with pytest.raises(UserError, match="has a guarded rollout running"):
        guard.start("checkout", "production", spec(), "bob")
    guard.stop("checkout", "production", "bob")
    assert state(guard)[0] == RolloutState.STOPPED
    with pytest.raises(UserError, match="no guarded rollout"):
        guard.stop("checkout", "production", "bob")


def test_latency_is_judged_too(guard: Guard) -> None:
    both = AnalysisSpec(interval=1, min_samples=20, metrics=[
        MetricSpec(name="latency", statistic="p95", tolerance=0.25)])  # fmt: skip
    guard.start("checkout", "production", spec(analysis=both), "ana")
    now = T0
    for _ in range(6):
        now += 1
        for side, slow in (("on", 0.5), ("off", 0.01)):
            seen = [Observation(side, now - 0.5, slow * (1 + n / 100), False) for n in range(100)]
            guard.records.observe("checkout", "production", seen)
        guard.tick(now)
    assert state(guard)[0] == RolloutState.ROLLED_BACK
    assert "latency" in guard.records.recent()[0].reason
