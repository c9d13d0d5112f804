"""Canary releases judged by measurements: bad versions roll back, good ones are promoted,
missing data never advances a step, and a new digest always starts afresh."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import lockgate
from .fleet import Load, app_version, build, deploy, fleet_repo, status, teardown

STEPS = [{"set-weight": 25}, {"analysis": {}}]
WORK_MS = 20
# 3 s: enough samples even on a busy machine. Latency may be 50% worse before it fails: on two
# loaded cores a fresh canary's p95 is now and then 25% worse by chance (the default tolerance),
# which made an error-injecting canary fail on latency too; the slow canary is far worse.
ANALYSIS = {
    "metrics": [
        {"name": "error-rate", "tolerance": 0.02},
        {"name": "latency", "statistic": "p95", "tolerance": 0.5},
    ],
    "interval": 3,
    "count": 2,
}


# -- end to end ---------------------------------------------------------------------------------
pytestmark = pytest.mark.integration


class _Versions(dict[str, str]):
    """The app's versions by name, each built the first time a test asks for it."""

    BEHAVIOUR: dict[str, dict[str, object]] = {
        # Each version does 20 ms of work per request, as a real service does: the scheduling
        # noise of a loaded machine (an identical canary's p95 once came out 62% above its
        # baseline's when both answered in a millisecond) stays small beside it.
        "v1": {"delay_ms": WORK_MS},
        "same": {"delay_ms": WORK_MS},
        "errors": {"error_rate": 0.05, "delay_ms": WORK_MS},
        "slow": {"delay_ms": WORK_MS + 100},
        "crashes": {"crash_after_ms": 1000},
    }

    def __init__(self, repo: Path) -> None:
        super().__init__()
        self.repo = repo

    def __missing__(self, name: str) -> str:
        self[name] = build(self.repo, app_version(self.repo, name, **self.BEHAVIOUR[name]))
        return self[name]


@pytest.fixture
def canary_repo(tmp_path: Path) -> Iterator[tuple[Path, int, dict[str, str]]]:
    repo, port = fleet_repo(tmp_path, 2, "canary", steps=STEPS, analysis=ANALYSIS)
    digests = _Versions(repo)
    code, report = deploy(repo, digests["v1"])  # the first deployment: nothing to compare
    assert code == 0, report
    yield repo, port, digests
    teardown(repo)


def _stable(repo: Path) -> dict[str, str | None]:
    return {i["id"]: i["digest"] for i in status(repo)["instances"]}


@pytest.mark.parametrize("version", ["errors", "slow"])
def test_a_worse_canary_is_rolled_back_and_stable_is_untouched(
    canary_repo: tuple[Path, int, dict[str, str]], version: str
) -> None:
    repo, port, digests = canary_repo
    before = _stable(repo)
    with Load(port, workers=8):
        code, report = deploy(repo, digests[version])
    assert code == 1 and report["result"] == "rolled_back", report
    assert _stable(repo) == before  # the same instances, still on v1
    deployment = report["deployment"]
    shown = lockgate("analysis", str(deployment), "-o", "json", cwd=repo)
    analyses = json.loads(shown.stdout)["analyses"]
    assert analyses and analyses[-1]["verdict"] == "fail"
    assert len(analyses) <= 2  # decided within two analysis intervals
    failed = [m for m in analyses[-1]["metrics"] if m["verdict"] == "fail"]
    metric = "error-rate" if version == "errors" else "latency"
    assert [m["name"] for m in failed] == [metric]
    samples = analyses[-1]["samples"][metric]
    assert len(samples["canary"]) >= 50 and len(samples["baseline"]) >= 50
    words = lockgate("analysis", str(deployment), cwd=repo).stdout
    assert "canary is worse" in words and metric in words


def test_an_identical_canary_is_promoted(canary_repo: tuple[Path, int, dict[str, str]]) -> None:
    repo, port, digests = canary_repo
    # One measurement of three may fail, as Argo users allow: on two loaded cores a freshly
    # started canary's p95 is now and then 25% worse by chance (seen once in a clean CI run).
    env = (repo / "env.yaml").read_text()
    assert '"count": 2}' in env
    (repo / "env.yaml").write_text(env.replace('"count": 2}', '"count": 3, "failure-limit": 1}'))
    with Load(port, workers=8) as load:
        code, report = deploy(repo, digests["same"])
    assert code == 0 and report["result"] == "succeeded", (report["message"], report["events"])
    assert set(_stable(repo).values()) == {digests["same"]}
    assert load.errors == []


def test_no_traffic_never_advances_and_a_new_digest_starts_afresh(
    canary_repo: tuple[Path, int, dict[str, str]],
) -> None:
    repo, _, digests = canary_repo
    code, report = deploy(repo, digests["same"])  # nobody sends requests
    assert code == 0 and report["result"] == "paused", report
    view = lockgate("status", "test", cwd=repo).stdout
    assert "too few samples" in view and "next: lockgate promote test" in view
    assert set(_stable(repo).values()) >= {digests["v1"]}
    code, report = deploy(repo, digests["errors"])  # the fix (or anything) supersedes it
    assert report["result"] == "paused"
    history = json.loads(lockgate("status", "test", "-o", "json", cwd=repo).stdout)["latest"]
    assert history["digest"] == digests["errors"]
    done = lockgate("abort", "test", "-o", "json", cwd=repo)
    assert json.loads(done.stdout)["result"] == "aborted"
    assert set(_stable(repo).values()) == {digests["v1"]}


def test_a_canary_that_loses_readiness_is_rolled_back(
    canary_repo: tuple[Path, int, dict[str, str]],
) -> None:
    repo, port, digests = canary_repo
    before = _stable(repo)
    with Load(port, workers=8):
        code, report = deploy(repo, digests["crashes"])
    assert code == 1 and report["result"] == "rolled_back", report
    assert "lost readiness" in report["message"]
    assert _stable(repo) == before


def test_presets_follow_aws_codedeploy() -> None:
    from lockgate.deploy.envfile import StrategySpec

    def plan(preset: str) -> list[tuple[int | None, object]]:
        spec = StrategySpec.model_validate({"type": "canary", "preset": preset, "interval": 30})
        return [(s.set_weight, s.pause) for s in spec.canary_steps()]

    assert plan("canary-10") == [(10, None), (None, 30)]
    linear = plan("linear-10")
    assert [w for w, _ in linear[::2]] == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert all(p == 30 for _, p in linear[1::2])
    assert plan("all-at-once") == []


def test_the_canary_10_preset_promotes_after_its_bake_time(tmp_path: Path) -> None:
    # The preset's steps and bake are under test, not the judge: the error rate alone (0 for
    # an identical v2) decides. With a latency metric, the few requests 10% of the traffic
    # gives the canary made its p95 worse by chance, and an identical v2 was rolled back
    # (found by `lockgate insights flaky` over lockgate's own CI runs).
    # The tolerance is 10%: with no error seen, 99% confidence bounds the error rate under 10%
    # after about 50 requests a side, under the default 2% only after about 270, more than 10%
    # of the traffic brings in a 4 s bake on a loaded machine.
    errors_only = {"interval": 2, "metrics": [{"name": "error-rate", "tolerance": 0.1}]}
    repo, port = fleet_repo(tmp_path, 2, "canary", preset="canary-10", interval=4,
                            analysis=errors_only)  # fmt: skip
    try:
        v1 = build(repo, app_version(repo, "v1"))
        v2 = build(repo, app_version(repo, "v2"))
        assert deploy(repo, v1)[0] == 0
        with Load(port, workers=8):
            code, report = deploy(repo, v2)
        assert code == 0 and report["result"] == "succeeded", report
        texts = [text for _, text in report["events"]]
        assert any(t.startswith("canary weight 10%") for t in texts)
        assert sum(1 for t in texts if t.startswith("analysis ") and " #" in t) == 2  # in the bake
        assert set(_stable(repo).values()) == {v2}
    finally:
        teardown(repo)


def test_conditions_without_a_query_are_refused() -> None:
    from pydantic import ValidationError

    from lockgate.deploy.envfile import MetricSpec

    with pytest.raises(ValidationError, match="need a `query`"):
        MetricSpec.model_validate({"name": "error-rate", "success": "result < 0.1"})
    spec = MetricSpec.model_validate({"name": "m", "query": "up", "failure": "result > 0.5"})
    assert spec.failure == "result > 0.5"  # the README's form: `result` is the value measured
    with pytest.raises(ValidationError, match="Unrecognized named-value: 'value'"):
        MetricSpec.model_validate({"name": "m", "query": "up", "failure": "value > 0.5"})
