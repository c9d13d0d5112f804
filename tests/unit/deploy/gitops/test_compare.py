"""The live diff: git's digest and environment document against records and a look, in
memory."""

from __future__ import annotations

from lockgate.deploy.gitops.compare import Live, differences, normalized
from lockgate.deploy.status import Health, InstanceView, StatusView
from lockgate.store.deployments import Rollout, RolloutStatus

A, B = "a" * 64, "b" * 64
DOC = {"app": "web", "target": {"replicas": 2}, "router": {"port": 8080}}


def rollout(digest: str, status: RolloutStatus, **extra: object) -> Rollout:
    values = dict(
        id=1, app="web", environment="prod", digest=digest, previous_digest=None,
        strategy="rolling", kind="deploy", status=status, started_at=0.0, triggered_by="alice",
    )  # fmt: skip
    return Rollout(**{**values, **extra})  # type: ignore[arg-type]


def instance(index: int, digest: str | None, weight: int = 1, pool: str = "main") -> InstanceView:
    return InstanceView(
        index=index, id=f"i{index}", pool=pool, state="serving", digest=digest,
        expected_digest=A, alive=True, ready=True, in_rotation=weight > 0, weight=weight,
        requests=0, address=None, restarts=0, crash_looping=False, host="local", reachable=True,
    )  # fmt: skip


def view(*instances: InstanceView, router_up: bool = True) -> StatusView:
    return StatusView(
        environment="prod", app="web", router="127.0.0.1:8080", router_up=router_up, agent=True,
        health=Health.HEALTHY, reasons=[], next=None, digest=A, latest=None, analysis=None,
        instances=list(instances),
    )  # fmt: skip


def fields(found: list) -> dict[str, tuple[str, str]]:  # type: ignore[type-arg]
    return {d.field: (d.desired, d.live) for d in found}


def test_in_sync_there_is_no_difference_and_defaults_written_out_are_none() -> None:
    live = Live(
        {**DOC, "strategy": {"type": "rolling"}},
        rollout(A, RolloutStatus.SUCCEEDED),
        view(instance(0, A), instance(1, A)),
    )
    assert differences(A, DOC, live) == []
    assert normalized(DOC) == normalized({**DOC, "target": {"replicas": 2, "type": "local"}})


def test_a_hand_deploy_an_edited_file_and_a_replaced_instance_are_each_named() -> None:
    edited = {**DOC, "strategy": {"type": "canary"}}
    live = Live(edited, rollout(B, RolloutStatus.SUCCEEDED), view(instance(0, B), instance(1, A)))
    found = fields(differences(A, DOC, live))
    assert found["strategy.type"] == ("rolling", "canary")
    assert found["digest"] == (A[:12], f"{B[:12]} (by alice)")
    assert found["instance 0 digest"] == (A[:12], B[:12])
    assert "instance 1 digest" not in found


def test_count_weights_and_router_are_compared_at_rest_only() -> None:
    stray = instance(5, A, weight=1, pool="canary")
    live = Live(DOC, rollout(A, RolloutStatus.SUCCEEDED), view(instance(0, A, weight=0), stray))
    found = fields(differences(A, DOC, live))
    assert found["instances"] == ("2", "1")
    assert found["router weights"] == ("equal, main set only", "0:0 canary5:1")
    down = Live(DOC, rollout(A, RolloutStatus.SUCCEEDED), view(router_up=False))
    assert fields(differences(A, DOC, down))["router"] == ("up", "down")
    moving = Live(DOC, rollout(A, RolloutStatus.PROGRESSING), view(instance(0, B)))
    assert differences(A, DOC, moving) == []  # a rollout to git's digest moves: not drift


def test_nothing_deployed_stopped_and_rolled_back_are_differences() -> None:
    assert fields(differences(A, DOC, Live(None, None, None))) == {
        "environment file": ("as git has it", "missing or unreadable"),
        "digest": (A[:12], "nothing deployed"),
    }
    stopped = Live(DOC, rollout(A, RolloutStatus.STOPPED), None)
    assert fields(differences(A, DOC, stopped))["digest"][1] == "stopped with `lockgate down`"
    back = rollout(A, RolloutStatus.ROLLED_BACK, previous_digest=B, config_commit="c" * 40)
    found = fields(differences(A, DOC, Live(DOC, back, view(instance(0, B), instance(1, B)))))
    assert found["digest"] == (A[:12], f"{B[:12]} (by gitops)")


def test_a_release_changed_on_disk_is_named_with_its_files() -> None:
    changes = [f"changed: f{n}.py" for n in range(7)]
    live = Live(
        DOC,
        rollout(A, RolloutStatus.SUCCEEDED),
        view(instance(0, A), instance(1, A)),
        {1: changes},
    )
    found = fields(differences(A, DOC, live))
    assert found == {
        "instance 1 release": ("as built", ", ".join(changes[:5]) + " and 2 more"),
    }
