"""A fleet's moves against in-memory fakes of the target and releases: a host lost as an
instance is started is fenced (with `on-host-failure: fence`), any other failure fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.artifacts.manifest import AppManifest
from lockgate.deploy.envfile import EnvironmentFile, load_environment
from lockgate.deploy.fleet import LiveFleet
from lockgate.deploy.reconciler import Probes
from lockgate.deploy.targets.base import HostLost, StartFailed
from lockgate.store import Store
from lockgate.store.deployments import DeploymentRecords, Instance, InstanceState

ENV = "app: hello\nenvironment: test\ntarget: {replicas: 3}\nrouter: {type: builtin, port: 1}\n"
APP = AppManifest.model_validate({"name": "hello", "start": "true"})


class Releases:
    """Every digest is the same little app; no bundle is read."""

    def app_for(self, digest: str) -> tuple[Path, AppManifest]:
        return Path("/nonexistent/bundle.tar.gz"), APP


class FailingTarget:
    """A target whose start fails the way it is told to (nothing else is asked of it here)."""

    def __init__(self, failure: StartFailed) -> None:
        self.failure = failure

    def start(self, instance: Instance, bundle: Path, app: AppManifest) -> None:
        raise self.failure


def _fleet(tmp_path: Path, failure: StartFailed) -> tuple[LiveFleet, list[str]]:
    path = tmp_path / "env.yaml"
    path.write_text(ENV)
    name, spec = load_environment(path)
    records = DeploymentRecords(Store(f"sqlite:///{tmp_path / 'store.db'}"))
    said: list[str] = []
    fleet = LiveFleet(name, spec, records, FailingTarget(failure), None, Releases(), None,  # type: ignore[arg-type]
                      Probes(1.0), said.append)  # fmt: skip
    return fleet, said


def test_a_host_lost_as_an_instance_starts_fences_its_slot(tmp_path: Path) -> None:
    fleet, said = _fleet(tmp_path, HostLost("host 10.0.0.9:22 cannot be reached"))
    instance = fleet.launch(1, "a" * 64, "main")
    assert fleet.fenced == {1} and instance.state == InstanceState.FAILED
    assert said == [
        "instance 1 not started, its host is fenced: host 10.0.0.9:22 cannot be reached"
    ]
    assert fleet.records.instances("test") == []  # failed, not live: planned afresh next pass
    assert [e.text for e in fleet.records.events("test")] == said  # and said in the history


def test_any_other_start_failure_fails_the_move(tmp_path: Path) -> None:
    fleet, _ = _fleet(tmp_path, StartFailed("no such command"))
    with pytest.raises(StartFailed, match="no such command"):
        fleet.launch(0, "a" * 64, "main")
    assert fleet.fenced == set()


class DownRouter:
    """A router whose statistics cannot be read: every measurement is inconclusive."""

    def stats(self, since: float) -> dict[str, object]:
        raise OSError("the router is down")


def test_an_analysis_override_lets_a_verdict_through_and_says_so(tmp_path: Path) -> None:
    from lockgate.deploy.breakglass import Ask, BreakGlass
    from lockgate.store.overrides import Gate, OverrideRecords

    fleet, said = _fleet(tmp_path, StartFailed("unused"))
    fleet.router = DownRouter()  # type: ignore[assignment]
    rollout = fleet.records.begin(app="hello", environment="test", digest="b" * 64,
                                  previous_digest="a" * 64, strategy="canary", kind="deploy",
                                  triggered_by="me")  # fmt: skip
    assert fleet.measure(rollout, "step 2/2 (analysis)", 1) == "inconclusive"
    glass = BreakGlass(OverrideRecords(fleet.records.store), fleet.records)
    ask = Ask("test", [Gate.ANALYSIS], "INC-12: metrics are down", "10m", "ana")
    glass.request(ask, EnvironmentFile.model_validate({"app": "hello"}))
    assert fleet.measure(rollout, "step 2/2 (analysis)", 2) == "pass"
    assert any("override #1 (analysis)" in s and "let the inconclusive through" in s for s in said)
