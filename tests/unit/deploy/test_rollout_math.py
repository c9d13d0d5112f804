"""The pure arithmetic of rollouts, as Kubernetes and Argo Rollouts test their replica math:
batch sizes from surge and unavailability, the invariants every pass keeps, canary traffic
shares and weights, canary step progression, restart backoff, and health from what is seen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockgate.deploy.analysis.judge import FAIL, INCONCLUSIVE, PASS
from lockgate.deploy.envfile import StrategySpec, surge, unavailable
from lockgate.deploy.status import Health, HostView, InstanceView, assess
from lockgate.deploy.strategies.base import Done, Fail, Pause, Wait
from lockgate.deploy.strategies.canary import Canary, instance_weights, shares
from lockgate.deploy.strategies.rolling import New, Slot, plan
from lockgate.deploy.supervision import backoff
from lockgate.store.deployments import Instance, InstanceState, Rollout, RolloutStatus


def _spec(**fields: object) -> StrategySpec:
    return StrategySpec.model_validate(fields)


def batch_size(replicas: int, max_surge: int, max_unavailable: int) -> int:
    """How many instances the first pass replaces in a fully available fleet."""
    full = [Slot(i, True, True, New.NONE) for i in range(replicas)]
    return len(plan(replicas, max_surge, max_unavailable, full).launch)


@pytest.mark.parametrize(
    ("replicas", "max_surge", "max_unavailable", "batch"),
    [
        (4, 1, 0, 1),
        (4, 0, 1, 1),
        (20, 5, 0, 5),
        (21, 3, 0, 3),
        (10, 3, 2, 5),
        (3, 0, 3, 3),
        (1, 1, 0, 1),
        (5, 10, 0, 5),  # more surge than replicas: all at once, never more
    ],
)
def test_batch_sizes_follow_surge_and_unavailability(
    replicas: int, max_surge: int, max_unavailable: int, batch: int
) -> None:
    assert batch_size(replicas, max_surge, max_unavailable) == batch


def test_percentages_round_as_kubernetes_does() -> None:
    spec = _spec(**{"max-surge": "25%", "max-unavailable": "25%"})
    assert surge(spec, 10) == 3  # up
    assert unavailable(spec, 10) == 2  # down
    assert unavailable(_spec(**{"max-unavailable": "100%"}), 4) == 4
    assert surge(_spec(**{"max-surge": "1%"}), 3) == 1


def test_a_first_deployment_starts_every_slot_within_surge() -> None:
    empty = [Slot(i, False, False, New.NONE) for i in range(4)]
    assert plan(4, 1, 0, empty).launch == [0, 1, 2, 3]


def test_old_instances_go_only_when_their_replacement_is_available() -> None:
    slots = [
        Slot(0, True, True, New.AVAILABLE),
        Slot(1, True, True, New.BAKING),
        Slot(2, True, True, New.NONE),
    ]
    moves = plan(3, 1, 0, slots)
    assert moves.retire == [0]  # slot 1 still bakes
    assert moves.launch == []  # slot 0's old one leaves, but slot 1's new one fills N + 1


def test_unready_old_instances_do_not_count_as_available() -> None:
    slots = [Slot(0, True, False, New.NONE), Slot(1, True, True, New.NONE)]
    moves = plan(2, 0, 1, slots)
    assert moves.retire == [0] and moves.launch == [0]  # replacing it costs no availability
    slots = [Slot(0, True, False, New.NONE), Slot(1, True, True, New.NONE)]
    assert plan(2, 0, 0, slots).launch == [0]  # even with no unavailability allowed


@settings(max_examples=200, deadline=None)
@given(
    replicas=st.integers(1, 25),
    max_surge=st.integers(0, 6),
    max_unavailable=st.integers(0, 6),
    unready=st.sets(st.integers(0, 24), max_size=3),
    bakes=st.lists(st.booleans(), min_size=1, max_size=60),
)
def test_every_pass_keeps_capacity_and_the_rollout_ends(
    replicas: int, max_surge: int, max_unavailable: int, unready: set[int], bakes: list[bool]
) -> None:
    max_unavailable = min(max_unavailable, replicas)
    if max_surge == 0 and max_unavailable == 0:
        max_surge = 1  # the environment file refuses 0 and 0
    old_ready = {i: i not in unready for i in range(replicas)}
    old = {i: True for i in range(replicas)}
    new = {i: New.NONE for i in range(replicas)}
    floor = min(replicas - max_unavailable, sum(old_ready.values()))
    for passes in range(10 * replicas + 10):
        slots = [Slot(i, old[i], old[i] and old_ready[i], new[i]) for i in range(replicas)]
        moves = plan(replicas, max_surge, max_unavailable, slots)
        for index in moves.retire:
            assert old[index]
            old[index] = False
        for index in moves.launch:
            assert new[index] is New.NONE
            new[index] = New.STARTING
        running = sum(old.values()) + sum(1 for n in new.values() if n is not New.NONE)
        available = sum(1 for i in old if old[i] and old_ready[i])
        available += sum(1 for n in new.values() if n is New.AVAILABLE)
        assert running <= replicas + max_surge
        assert available >= floor
        if not any(old.values()) and all(n is New.AVAILABLE for n in new.values()):
            break
        baked = bakes[passes % len(bakes)] or passes % 3 == 0  # instances take their time
        for index, phase in new.items():
            if phase is New.STARTING:
                new[index] = New.BAKING
            elif phase is New.BAKING and baked:
                new[index] = New.AVAILABLE
    else:
        pytest.fail("the rollout never finished")


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (0, {"canary": 0, "baseline": 0, "stable": 100}),
        (10, {"canary": 10, "baseline": 10, "stable": 80}),
        (50, {"canary": 50, "baseline": 50, "stable": 0}),
        (60, {"canary": 60, "baseline": 40, "stable": 0}),
        (100, {"canary": 100, "baseline": 0, "stable": 0}),
    ],
)
def test_canary_shares(percent: int, expected: dict[str, int]) -> None:
    assert shares(percent) == expected


def test_instance_weights_give_each_pool_its_share() -> None:
    weights = instance_weights(10, {"stable": 4, "canary": 1, "baseline": 1})
    assert weights == {"stable": 200, "canary": 100, "baseline": 100}
    assert instance_weights(30, {"stable": 3, "canary": 2, "baseline": 2}) == {
        "stable": 133,
        "canary": 150,
        "baseline": 150,
    }
    assert instance_weights(20, {"stable": 2})["canary"] == 0  # no canary serving yet


def test_restart_backoff_doubles_up_to_a_limit() -> None:
    assert [backoff(n) for n in range(8)] == [0, 1, 2, 4, 8, 16, 30, 30]


# -- canary step progression, on a fleet kept on paper -----------------------------------------


@dataclass
class PaperFleet:
    """The Fleet interface over a list: instances become ready when told, measurements return
    the verdicts given, time moves when the test moves it."""

    strategy: StrategySpec
    verdicts_given: list[str]
    name: str = "prod"
    replicas: int = 2
    now: float = 1000.0
    fenced: set[int] = field(default_factory=set)
    all: list[Instance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    taken: list[tuple[str, str]] = field(default_factory=list)  # (step label, verdict)

    def instances(self) -> list[Instance]:
        live = (InstanceState.STOPPING, InstanceState.STOPPED, InstanceState.FAILED)
        return [i for i in self.all if i.state not in live]

    def dead(self, instance: Instance) -> bool:
        return False

    def log_of(self, instance: Instance) -> str:
        return "-"

    def launch(self, slot: int, digest: str, pool: str) -> Instance:
        instance = Instance(
            f"i{len(self.all)}", "prod", slot, digest, pool, InstanceState.STARTING, 1,
            launched_at=self.now,
        )  # fmt: skip
        self.all.append(instance)
        return instance

    def start_again(self, instance: Instance) -> None:
        instance.restarts += 1

    def park(self, instances: Sequence[Instance]) -> None:
        for instance in instances:
            instance.state = InstanceState.READY

    def serve(self, instances: Sequence[Instance], retire: Sequence[Instance] = ()) -> None:
        for instance in instances:
            instance.state = InstanceState.SERVING
        self.retire(retire)

    def standby(self, instances: Sequence[Instance], reason: str | None = None) -> None:
        for instance in instances:
            instance.state = InstanceState.STANDBY

    def retire(self, instances: Sequence[Instance]) -> None:
        for instance in instances:
            instance.state = InstanceState.STOPPED

    def healthy_now(self, instance: Instance) -> bool:
        return instance.ready

    def note(self, text: str) -> None:
        self.notes.append(text)

    def measure(self, rollout: Rollout, label: str, number: int) -> str:
        verdict = self.verdicts_given.pop(0)
        self.taken.append((label, verdict))
        return verdict

    def verdicts(self, rollout: Rollout, label: str) -> list[str]:
        return [v for step, v in self.taken if step == label]

    def smoke(self, instances: Sequence[Instance]) -> str | None:
        return None

    def make_ready(self) -> None:
        for instance in self.all:
            if instance.state in (InstanceState.STARTING, InstanceState.SERVING):
                instance.ready, instance.ready_since = True, self.now


def _canary(
    steps: list[dict[str, object]], verdicts: list[str], **analysis: object
) -> tuple[PaperFleet, Rollout]:
    spec = _spec(type="canary", steps=steps, analysis={"interval": 5, "count": 2, **analysis})
    fleet = PaperFleet(spec, verdicts)
    for slot in range(2):
        fleet.all.append(
            Instance(f"s{slot}", "prod", slot, "old", "stable", InstanceState.SERVING, 0,
                     ready=True, ready_since=0.0)
        )  # fmt: skip
    rollout = Rollout(
        1, "app", "prod", "new", "old", "canary", "deploy", RolloutStatus.PROGRESSING,
        fleet.now, "me", step_started_at=fleet.now,
    )  # fmt: skip
    return fleet, rollout


def test_canary_steps_progress_through_weights_pauses_and_analysis() -> None:
    steps = [{"set-weight": 20}, {"pause": 10}, {"set-weight": 50}, {"pause": "until-promoted"},
             {"analysis": {}}]  # fmt: skip
    fleet, rollout = _canary(steps, [PASS, PASS, PASS, PASS])
    canary = Canary()
    assert isinstance(canary.step(rollout, fleet), Wait)  # canary and baseline starting
    side = [i for i in fleet.all if i.pool in ("canary", "baseline")]
    assert [(i.slot, i.digest, i.pool) for i in side] == [
        (2, "new", "canary"),
        (3, "old", "baseline"),
    ]
    fleet.make_ready()
    assert isinstance(canary.step(rollout, fleet), Wait)
    assert rollout.weight == 20 and rollout.step == 2  # weight set, now in the pause
    fleet.now += 5
    assert isinstance(canary.step(rollout, fleet), Wait)  # one background measurement
    fleet.now += 5
    paused = canary.step(rollout, fleet)  # the pause ends; weight 50; until promoted
    assert isinstance(paused, Pause) and not paused.approval
    assert rollout.weight == 50 and rollout.step == 4
    assert [label for label, _ in fleet.taken] == ["step 2/5 (pause 10s)"] * 2
    rollout.promote = True
    assert isinstance(canary.step(rollout, fleet), Wait)  # analysis: the first of 2
    fleet.now += 5
    assert isinstance(canary.step(rollout, fleet), Wait)
    fleet.now += 5
    progress = canary.step(rollout, fleet)  # the second passes: promote the stable set
    assert isinstance(progress, Wait) and rollout.step == 6 and rollout.weight == 0
    assert len(fleet.taken) == 4
    assert {i.digest for i in fleet.all if i.state == InstanceState.STARTING} == {"new"}


def test_a_failed_measurement_fails_the_canary_at_once() -> None:
    fleet, rollout = _canary([{"set-weight": 10}, {"pause": 60}], [FAIL])
    canary = Canary()
    canary.step(rollout, fleet)
    fleet.make_ready()
    canary.step(rollout, fleet)
    fleet.now += 5
    failed = canary.step(rollout, fleet)
    assert isinstance(failed, Fail) and "failed analysis at step 2/2" in failed.reason


def test_an_inconclusive_analysis_pauses_and_promote_goes_on_from_the_next_step() -> None:
    fleet, rollout = _canary([{"set-weight": 10}, {"analysis": {}}, {"set-weight": 40}],
                             [INCONCLUSIVE, INCONCLUSIVE], count=2)  # fmt: skip
    canary = Canary()
    canary.step(rollout, fleet)
    fleet.make_ready()
    canary.step(rollout, fleet)
    fleet.now += 5
    canary.step(rollout, fleet)
    fleet.now += 5
    paused = canary.step(rollout, fleet)
    assert isinstance(paused, Pause) and "inconclusive" in paused.reason
    assert rollout.step == 3 and rollout.weight == 10
    rollout.promote = True
    canary.step(rollout, fleet)
    assert rollout.weight == 0 and rollout.step == 4  # 40% set, then promoting


def test_a_canary_without_a_previous_version_simply_rolls() -> None:
    fleet, rollout = _canary([{"set-weight": 10}], [])
    rollout.previous_digest = None
    fleet.all.clear()
    assert isinstance(Canary().step(rollout, fleet), Wait)
    assert sorted(i.slot for i in fleet.all) == [0, 1]
    fleet.make_ready()
    fleet.now += 1
    Canary().step(rollout, fleet)  # serving
    assert isinstance(Canary().step(rollout, fleet), Done)


# -- health from what status sees --------------------------------------------------------------


def _view(index: int, **changes: object) -> InstanceView:
    values: dict[str, object] = {
        "index": index, "id": f"i{index}", "pool": "stable", "state": "serving", "digest": "d1",
        "expected_digest": "d1", "alive": True, "ready": True, "in_rotation": True, "weight": 1,
        "requests": 0, "address": "127.0.0.1:1", "restarts": 0, "crash_looping": False,
        "host": "h1", "reachable": True,
    }  # fmt: skip
    values.update(changes)
    return InstanceView(**values)  # type: ignore[arg-type]


def _done(status: RolloutStatus, digest: str = "d1", previous: str | None = None) -> Rollout:
    return Rollout(1, "app", "prod", digest, previous, "rolling", "deploy", status, 0.0, "me")


def test_health_rules() -> None:
    fine = [_view(0), _view(1)]
    assert assess("prod", 2, _done(RolloutStatus.SUCCEEDED), fine, True, True).health == (
        Health.HEALTHY
    )
    down = assess("prod", 2, _done(RolloutStatus.SUCCEEDED), fine, False, True)
    assert down.health == Health.DEGRADED and down.reasons == ["the router is down"]
    dead = assess(
        "prod", 2, _done(RolloutStatus.SUCCEEDED),
        [_view(0), _view(1, alive=False, restarts=4, crash_looping=True)], True, False,
    )  # fmt: skip
    assert dead.reasons == ["instance 1 is not running, crash-looping (4 restarts)"]
    assert dead.next is not None and "lockgate agent" in dead.next
    drift = assess("prod", 2, _done(RolloutStatus.SUCCEEDED), [_view(0), _view(1, digest="x")],
                   True, True)  # fmt: skip
    assert drift.health == Health.DEGRADED and "instance 1 runs x" in drift.reasons[0]
    missing = assess("prod", 3, _done(RolloutStatus.SUCCEEDED), fine, True, True)
    assert missing.reasons == ["instance 2 is not serving"]
    moving = assess("prod", 2, _done(RolloutStatus.PROGRESSING, "d2", "d1"), fine, True, True)
    assert moving.health == Health.PROGRESSING  # old digests mid-rollout are expected
    paused = assess("prod", 2, _done(RolloutStatus.PAUSED, "d2", "d1"), fine, True, True)
    assert (
        paused.health == Health.PAUSED
        and paused.next == "lockgate promote prod (or lockgate abort prod)"
    )
    down = assess("prod", 2, _done(RolloutStatus.STOPPED), [], False, True)
    assert down.health == Health.HEALTHY and down.next is not None and "again" in down.next
    back = assess("prod", 2, _done(RolloutStatus.ROLLED_BACK, "d2", "d1"), fine, True, True)
    assert back.health == Health.HEALTHY and back.next is not None and "deploy a fix" in back.next
    away = [_view(0), _view(1, alive=False, ready=False, host="h2", reachable=False)]
    lost = HostView("h2", reachable=False, since=1000.0, last_seen=990.0)
    gone = assess("prod", 2, _done(RolloutStatus.SUCCEEDED), away, True, True, [lost], 1030.0)
    assert gone.health == Health.DEGRADED and len(gone.reasons) == 1  # the host, not its instance
    assert "host h2 is unreachable since" in gone.reasons[0] and "(30s;" in gone.reasons[0]
