"""Break-glass overrides on an injected clock: they take effect at once or on a second
person's word, cover only their gates, expire on their own, and drills never cover anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.deploy.breakglass import Ask, BreakGlass, gates_named
from lockgate.deploy.envfile import EnvironmentFile
from lockgate.store.database import Store
from lockgate.store.deployments import DeploymentRecords
from lockgate.store.overrides import Gate, OverrideRecords, OverrideState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def glass(tmp_path: Path) -> tuple[BreakGlass, Clock]:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    clock = Clock()
    return BreakGlass(OverrideRecords(store), DeploymentRecords(store), clock), clock


def _spec(**break_glass: object) -> EnvironmentFile:
    return EnvironmentFile.model_validate({"app": "a", "break-glass": break_glass})


def test_an_override_covers_its_gates_until_it_expires(glass: tuple[BreakGlass, Clock]) -> None:
    breaker, clock = glass
    made = breaker.request(Ask("prod", [Gate.POLICY], "INC-1", "10m", "ana"), _spec())
    assert made.state(clock.now) == OverrideState.ACTIVE
    assert breaker.covering("prod", Gate.POLICY) is not None
    assert breaker.covering("prod", Gate.WINDOW) is None
    assert breaker.covering("staging", Gate.POLICY) is None
    clock.now += 600
    assert breaker.covering("prod", Gate.POLICY) is None  # over on its own
    events = [e.text for e in breaker.events.events("prod")]
    assert any("break-glass requested" in t and "INC-1" in t for t in events)


def test_approval_takes_a_second_person(glass: tuple[BreakGlass, Clock]) -> None:
    breaker, clock = glass
    ask = Ask("prod", [Gate.ANALYSIS], "INC-2", "1h", "ana")
    made = breaker.request(ask, _spec(approval=True))
    assert made.state(clock.now) == OverrideState.PENDING
    assert breaker.covering("prod", Gate.ANALYSIS) is None
    with pytest.raises(UserError, match="needs a second person"):
        breaker.approve(made.id, "ana")
    clock.now += 42
    done = breaker.approve(made.id, "bob")
    assert [(s.name, s.seconds) for s in done.stages] == [("approval", 42.0)]
    assert breaker.covering("prod", Gate.ANALYSIS) is not None
    clock.now += 3600 - 1  # the time counts from approval
    assert breaker.covering("prod", Gate.ANALYSIS) is not None
    breaker.revoke(made.id, "bob")
    assert breaker.covering("prod", Gate.ANALYSIS) is None
    with pytest.raises(UserError, match="already over"):
        breaker.revoke(made.id, "bob")


def test_a_drill_walks_every_step_and_never_covers(glass: tuple[BreakGlass, Clock]) -> None:
    breaker, _ = glass
    probed: list[bool] = []

    def probe() -> None:
        probed.append(breaker.covering("prod", Gate.POLICY) is None)

    drill = breaker.drill(Ask("prod", [Gate.POLICY], "rehearsal", "5m", "ana"), _spec(), probe)
    assert [s.name for s in drill.stages] == [
        "recorded",
        "seen by the gates",
        "a gate's decision",
        "ended",
    ]
    assert probed == [True] and drill.override.revoked_at is not None


@pytest.mark.parametrize(
    ("names", "ttl", "said"),
    [
        (["sudo"], "1h", "not a gate"),
        ([], "2d", "--ttl"),
        ([], "2h", "at most 3600"),
        ([], "0s", "more than 0"),
    ],
)
def test_bad_requests_change_nothing(
    glass: tuple[BreakGlass, Clock], names: list[str], ttl: str, said: str
) -> None:
    breaker, _ = glass
    with pytest.raises(UserError, match=said):
        ask = Ask("prod", gates_named(names), "x", ttl, "ana")
        breaker.request(ask, _spec(**{"max-ttl": "1h"}))
    assert breaker.overrides.of("prod") == []
