"""Rollouts on a real local fleet behind the real router, under load: capacity, zero failed
requests, the convergence guarantee (the "21 servers" test) and rollback. Crash recovery and
supervision between rollouts are in test_supervision.py."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import httpx
import pytest

from ..conftest import lockgate, need
from .fleet import (
    Fleets,
    Load,
    app_version,
    build,
    deploy,
    deploy_under_load,
    eventually,
    status,
)

pytestmark = pytest.mark.integration


def _versions(repo: Path, digests: dict[str, str]) -> dict[str, str]:
    """instance index -> version name, as each instance itself reports it."""
    names = {d: n for n, d in digests.items()}
    return {str(i["index"]): names.get(str(i["digest"]), "?") for i in status(repo)["instances"]}


def test_rolling_keeps_capacity_and_loses_no_request(fleets: Fleets) -> None:
    repo, port = fleets(4, "rolling", **{"max-surge": 0, "max-unavailable": 1})
    v1 = build(repo, app_version(repo, "v1"))
    v2 = build(repo, app_version(repo, "v2", start_delay_ms=800))  # long enough to sample
    code, report = deploy(repo, v1)
    assert code == 0, report
    admin = json.loads((repo / ".lockgate/fleet/test/router.json").read_text())["admin"]
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        with httpx.Client() as client:  # one kept-alive connection: a sample costs little
            while not stop.wait(0.01):
                table = client.get(f"http://127.0.0.1:{admin}/backends").json()
                samples.append(sum(1 for row in table if row["weight"] > 0))

    sampler = threading.Thread(target=sample, daemon=True)
    with Load(port) as load:
        sampler.start()
        code, report = deploy(repo, v2)
        stop.set()
        sampler.join()
    assert code == 0, report
    assert load.errors == []
    assert len(samples) > 20 and min(samples) >= 3, samples  # never below N - maxUnavailable
    assert max(samples) <= 4  # maxSurge 0: never more than N
    assert _versions(repo, {"v1": v1, "v2": v2}) == {str(i): "v2" for i in range(4)}
    served = {body.split()[1] for _, _, body in load.results}
    assert served == {"v1", "v2"}


def test_blue_green_switches_atomically_and_rolls_back_instantly(fleets: Fleets) -> None:
    repo, port = fleets(3, "blue-green", smoke=[{"path": "/healthz"}], **{"scale-down-delay": 60})
    v1 = build(repo, app_version(repo, "v1"))
    v2 = build(repo, app_version(repo, "v2"))
    assert deploy(repo, v1)[0] == 0
    with Load(port, workers=1) as load:  # one ordered stream shows whether the switch is atomic
        code, report = deploy(repo, v2)
        assert code == 0, report
        answered = len(load.results)  # some answers after the switch, then the load stops
        eventually(lambda: len(load.results) >= answered + 10, 30, "answers after the switch")
    assert load.errors == []
    bodies = [body.split()[1] for _, _, body in load.results]
    switch = bodies.index("v2")
    assert set(bodies[:switch]) == {"v1"} and set(bodies[switch:]) == {"v2"}  # atomic
    kept = [i for i in status(repo)["instances"] if i["state"] == "standby"]
    assert len(kept) == 3 and all(not i["in_rotation"] for i in kept)
    done = lockgate("rollback", "test", "-o", "json", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "succeeded"
    # One router change, not a redeploy: the standby set serves again, nothing was started.
    serving_now = {i["id"] for i in status(repo)["instances"] if i["in_rotation"]}
    assert serving_now == {i["id"] for i in kept}
    assert {httpx.get(f"http://127.0.0.1:{port}/").text.split()[1] for _ in range(10)} == {"v1"}


def test_twenty_one_servers_one_cannot_be_updated(fleets: Fleets) -> None:
    repo, port = fleets(21, "rolling", **{"max-surge": 3})
    v1 = build(repo, app_version(repo, "v1"))
    # v2 takes a while to stop, which stretches the time between the divergence and the
    # rollback that follows it: the load shows the diverged server gets no traffic meanwhile.
    v2 = build(repo, app_version(repo, "v2", stop_delay_ms=800))
    code, report = deploy(repo, v1)
    assert code == 0, report
    # Server 13 cannot take the new release: its release directory cannot be created.
    blocked = repo / ".lockgate/fleet/test/instances/13/releases" / v2
    blocked.write_text("in the way\n")
    with Load(port) as load:
        code, report = deploy(repo, v2)
    assert code == 1 and report["result"] == "rolled_back", report
    assert [d["slot"] for d in report["divergent"]] == [13]
    assert "instance 13" in report["message"]
    diverged_at = report["divergent"][0]["at"]
    # While v2 is what the fleet should run, the server left on v1 gets no traffic; once the
    # controller rolls back, v1 is the goal again and it is no longer divergent.
    rollback_at = min(t for t, text in report["events"] if text.startswith("rolling back"))
    during = [body for t, _, body in load.results if diverged_at <= t <= rollback_at]
    assert not [b for b in during if "instance 13 " in b]
    assert report["divergent"][0]["in_rotation"] is False  # read back from the router
    assert load.errors == []
    assert _versions(repo, {"v1": v1, "v2": v2}) == {str(i): "v1" for i in range(21)}
    blocked.unlink()
    code, report = deploy(repo, v2)  # the retry converges all 21
    assert code == 0, report
    assert _versions(repo, {"v1": v1, "v2": v2}) == {str(i): "v2" for i in range(21)}
    assert all(i["ready"] and i["in_rotation"] for i in status(repo)["instances"])


def test_a_version_that_never_gets_ready_is_rolled_back(fleets: Fleets) -> None:
    repo, _ = fleets(2, "rolling", **{"readiness-timeout": 3})
    v1 = build(repo, app_version(repo, "v1"))
    broken = build(repo, app_version(repo, "broken", refuse_start=True))
    assert deploy(repo, v1)[0] == 0
    code, report = deploy(repo, broken)
    assert code == 1 and report["result"] == "rolled_back"
    assert "exited before it was ready" in report["message"]
    assert _versions(repo, {"v1": v1}) == {"0": "v1", "1": "v1"}


def test_unsigned_or_untrusted_artifacts_are_refused(fleets: Fleets) -> None:
    repo, _ = fleets(1, "rolling")
    env = (repo / "env.yaml").read_text()
    (repo / "env.yaml").write_text(env + "provenance:\n  required: true\n")
    v1 = build(repo, app_version(repo, "v1"))
    (repo / ".lockgate/bundles" / f"{v1}.provenance.json").unlink()
    code, report = deploy(repo, v1)
    assert code == 1 and report["result"] == "refused"
    assert "unsigned" in report["message"]
    assert not (repo / ".lockgate/fleet/test/instances").exists()  # nothing was started


def test_approval_pauses_blue_green_until_promote_or_abort(fleets: Fleets) -> None:
    repo, port = fleets(2, "blue-green", approval=True, **{"scale-down-delay": 0})
    v1 = build(repo, app_version(repo, "v1"))
    v2 = build(repo, app_version(repo, "v2"))
    v3 = build(repo, app_version(repo, "v3"))
    code, report = deploy(repo, v1)
    assert code == 0 and report["result"] == "awaiting_approval"
    assert lockgate("promote", "test", cwd=repo).returncode == 0
    code, report = deploy(repo, v2)
    assert code == 0 and report["result"] == "awaiting_approval"
    view = status(repo)
    assert view["latest"]["status"] == "awaiting_approval"
    assert "lockgate promote test" in lockgate("status", "test", cwd=repo).stdout
    assert {httpx.get(f"http://127.0.0.1:{port}/").text.split()[1] for _ in range(6)} == {"v1"}
    done = lockgate("promote", "test", "-o", "json", cwd=repo)
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == "succeeded"
    assert {httpx.get(f"http://127.0.0.1:{port}/").text.split()[1] for _ in range(6)} == {"v2"}
    code, report = deploy(repo, v3)
    assert report["result"] == "awaiting_approval"
    done = lockgate("abort", "test", "-o", "json", cwd=repo)
    assert done.returncode == 1 and json.loads(done.stdout)["result"] == "aborted"
    assert _versions(repo, {"v2": v2}) == {"0": "v2", "1": "v2"}
    again = lockgate("promote", "test", cwd=repo)
    assert again.returncode == 2 and "no deployment waiting for approval" in again.stderr


def test_a_bad_environment_file_is_a_clear_error(fleets: Fleets) -> None:
    repo, _ = fleets(2, "rolling", **{"max-surge": 0, "max-unavailable": 0})
    done = lockgate("deploy", "env.yaml", "--artifact", "abc123abc123", cwd=repo)
    assert done.returncode == 2 and "env.yaml" in done.stderr
    assert "cannot both be 0" in done.stderr and "Traceback" not in done.stderr
    (repo / "env.yaml").write_text("app: hello\nstrategy: {type: canary-ish}\n")
    done = lockgate("deploy", "env.yaml", "--artifact", "abc123abc123", cwd=repo)
    assert done.returncode == 2 and "env.yaml:2:" in done.stderr, done.stderr
    (repo / "env.yaml").write_text("app: hello\n")
    done = lockgate("deploy", "env.yaml", "--artifact", "abc123abc123", cwd=repo)
    assert done.returncode == 2 and "no stored bundle" in done.stderr


def test_rollouts_drive_haproxy_live(fleets: Fleets) -> None:
    need(shutil.which("haproxy") is not None, "haproxy is not installed")
    repo, port = fleets(3, "rolling", router="haproxy")
    v1 = build(repo, app_version(repo, "v1"))
    v2 = build(repo, app_version(repo, "v2", start_delay_ms=200))
    assert deploy(repo, v1)[0] == 0
    load = deploy_under_load(repo, port, v2)
    assert {body.split()[1] for _, _, body in load.results} == {"v1", "v2"}
    view = status(repo)
    assert {i["digest"] for i in view["instances"]} == {v2}

    def every_instance_serves() -> bool:
        """The instance replaced last may have joined as the load stopped: a few more
        requests, and every one of them must be in rotation and answering."""
        httpx.get(f"http://127.0.0.1:{port}/")
        seen = status(repo)["instances"]
        return all(i["in_rotation"] and i["requests"] > 0 for i in seen)

    eventually(every_instance_serves, 15, "every v2 instance in rotation and serving")
    config = (repo / ".lockgate/fleet/test/haproxy.cfg").stat().st_mtime
    assert lockgate("rollback", "test", cwd=repo).returncode == 0
    assert (repo / ".lockgate/fleet/test/haproxy.cfg").stat().st_mtime == config  # no reload
    assert {httpx.get(f"http://127.0.0.1:{port}/").text.split()[1] for _ in range(6)} == {"v1"}
