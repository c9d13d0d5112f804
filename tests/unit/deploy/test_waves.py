"""The waves rule: what a release does next, from where it is and its regions' rollouts."""

from __future__ import annotations

from lockgate.deploy.envfile import WaveSpec
from lockgate.deploy.status import clock
from lockgate.deploy.waves import (
    Bake,
    Deploy,
    Failed,
    Measure,
    NextWave,
    Promote,
    Wait,
    next_move,
    tag,
)
from lockgate.store.deployments import Rollout, RolloutStatus

WAVES = [
    WaveSpec(regions=["eu"], instances=1, bake=60),
    WaveSpec(regions=["eu"], bake=60),
    WaveSpec(regions=["us", "ap"], bake=0),
]
NOW = 1_000_000.0


def _rollout(
    id: int, environment: str, status: RolloutStatus, by: str, **fields: object
) -> Rollout:
    base = dict(
        id=id, app="shop", environment=environment, digest="new", previous_digest="old",
        strategy="waves", kind="release", status=status, started_at=NOW - 100, triggered_by=by,
    )  # fmt: skip
    return Rollout(**{**base, **fields})  # type: ignore[arg-type]


RELEASE = _rollout(7, "shop", RolloutStatus.PROGRESSING, "ana", step=0, step_started_at=None)


def _child(region: str, status: RolloutStatus, mine: bool = True, **fields: object) -> Rollout:
    by = f"{tag(RELEASE)} by ana" if mine else "bob"
    return _rollout(100, f"shop.{region}", status, by, strategy="canary", kind="deploy", **fields)


def _at(step: int, **fields: object) -> Rollout:
    return _rollout(7, "shop", RolloutStatus.PROGRESSING, "ana", step=step, **fields)


def test_a_wave_deploys_to_its_regions_first() -> None:
    assert next_move(RELEASE, WAVES, {"eu": None}, NOW, 5) == Deploy(["eu"])
    other = _child("eu", RolloutStatus.SUCCEEDED, mine=False, digest="old")
    assert next_move(RELEASE, WAVES, {"eu": other}, NOW, 5) == Deploy(["eu"])


def test_a_region_that_already_runs_the_release_is_not_deployed_again() -> None:
    running = _child("us", RolloutStatus.SUCCEEDED, mine=False)
    move = next_move(_at(2), WAVES, {"us": running, "ap": None}, NOW, 5)
    assert move == Deploy(["ap"])


def test_it_waits_while_its_regions_roll_out() -> None:
    moving = _child("eu", RolloutStatus.PROGRESSING)
    assert next_move(RELEASE, WAVES, {"eu": moving}, NOW, 5) == Wait("rolling out to eu", 5)


def test_a_canary_wave_is_rolled_out_when_the_canary_pauses_then_bakes() -> None:
    paused = _child("eu", RolloutStatus.PAUSED)
    assert next_move(RELEASE, WAVES, {"eu": paused}, NOW, 5) == Bake()
    baking = _at(0, step_started_at=NOW - 10, measured_at=NOW - 2)
    until = Wait(f"baking until {clock(NOW + 50)}", 3)  # the next measurement, 5 s after the last
    assert next_move(baking, WAVES, {"eu": paused}, NOW, 5) == until
    due = _at(0, step_started_at=NOW - 10, measured_at=NOW - 6)
    assert next_move(due, WAVES, {"eu": paused}, NOW, 5) == Measure(final=False)
    ended = _at(0, step_started_at=NOW - 61)
    assert next_move(ended, WAVES, {"eu": paused}, NOW, 5) == Measure(final=True)


def test_the_next_wave_of_a_canary_region_promotes_its_canary() -> None:
    paused = _child("eu", RolloutStatus.PAUSED)
    assert next_move(_at(1), WAVES, {"eu": paused}, NOW, 5) == Promote(["eu"])


def test_a_region_paused_by_its_own_strategy_waits_for_a_person() -> None:
    paused = _child("us", RolloutStatus.PAUSED)
    done = _child("ap", RolloutStatus.SUCCEEDED)
    move = next_move(_at(2), WAVES, {"us": paused, "ap": done}, NOW, 5)
    assert move == Wait("rolling out to us (paused: lockgate promote shop.us)", 5)


def test_a_wave_without_bake_goes_straight_on() -> None:
    done = _child("us", RolloutStatus.SUCCEEDED)
    assert next_move(_at(2), WAVES, {"us": done, "ap": done}, NOW, 5) == NextWave()


def test_a_rollback_does_not_bake() -> None:
    back = _at(1, kind="rollback")
    assert (
        next_move(back, WAVES, {"eu": _child("eu", RolloutStatus.SUCCEEDED)}, NOW, 5) == NextWave()
    )


def test_a_region_that_went_back_fails_the_wave() -> None:
    for status in (RolloutStatus.FAILED, RolloutStatus.ROLLED_BACK, RolloutStatus.ABORTED):
        back = _child("eu", status, message="canary lost readiness")
        move = next_move(RELEASE, WAVES, {"eu": back}, NOW, 5)
        assert move == Failed("region eu: canary lost readiness")
