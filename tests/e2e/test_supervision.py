"""The agent keeps a deployed fleet converged between commands, through real instances, the
real router and steady load: crashed instances come back, unready ones leave rotation and
return, a dead router is restarted with its table, drifted instances are replaced, and a
killed deploy command or agent loses nothing. Durations are reported by
benchmarks/supervision.py; here only outcomes are asserted (with generous deadlines)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ..conftest import LOCKGATE, lockgate
from .fleet import (
    Fleets,
    Load,
    agents,
    app_version,
    build,
    deploy,
    eventually,
    fleet_processes,
    gone,
    status,
    stop_agent,
)

pytestmark = pytest.mark.integration


def running(fleets: Fleets, replicas: int) -> tuple[Path, int, str]:
    """A rolling fleet running v1 of the example app: (repo, router port, v1's digest)."""
    repo, port = fleets(replicas, "rolling")
    v1 = build(repo, app_version(repo, "v1"))
    assert deploy(repo, v1)[0] == 0
    return repo, port, v1


def router_table(repo: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    try:  # (the file is written anew while the agent starts a router again)
        admin = json.loads((repo / ".lockgate/fleet/test/router.json").read_text())["admin"]
    except (FileNotFoundError, ValueError):
        return {}
    try:
        rows = httpx.get(f"http://127.0.0.1:{admin}/backends", timeout=2).json()
    except httpx.HTTPError:
        return {}
    return {row["id"]: row for row in rows}


def in_rotation(repo: Path) -> set[str]:
    return {i for i, row in router_table(repo).items() if row["weight"] > 0}


def events(repo: Path) -> list[str]:
    return [event["text"] for event in status(repo, healthy=False)["events"]]


def release_of(repo: Path, slot: int, digest: str) -> Path:
    return repo / ".lockgate/fleet/test/instances" / str(slot) / "releases" / digest


def serving(repo: Path, replicas: int) -> Callable[[], bool]:
    def check() -> bool:
        view = status(repo, healthy=False)
        ids = {i["id"] for i in view["instances"] if i["state"] == "serving"}
        return view["health"] == "healthy" and len(ids) == replicas and in_rotation(repo) == ids

    return check


def test_an_instance_killed_is_restarted_and_back_in_rotation(fleets: Fleets) -> None:
    repo, port, _ = running(fleets, 3)
    eventually(lambda: len(agents(repo)) == 1, what="deploy started an agent")
    victim = status(repo)["instances"][1]
    with Load(port) as load:
        eventually(lambda: len(load.results) >= 30, what="requests flowing before the kill")
        os.killpg(fleet_processes(repo)[victim["id"]], signal.SIGKILL)
        killed = time.time()  # a request sent before this may have been cut mid-answer
        # Noticed (it may be back before a look at the router could see it out of rotation).
        noticed = f"instance {victim['index']} exited"
        eventually(lambda: any(noticed in t for t in events(repo)), what="the death noticed")
        eventually(serving(repo, 3), what="restarted and back in rotation")
        after = len(load.results)
        eventually(lambda: len(load.results) >= after + 30, what="requests after the restart")
    # The router retried what the dead instance refused: no request sent after the kill
    # failed (one the instance was answering at that instant can be cut).
    late = [t for t, _ in load.failures if t > killed] + [
        t for t, code, _ in load.results if code >= 500 and t > killed
    ]
    assert late == [] and len(load.errors) <= 1, load.errors
    assert len(load.results) > 100
    view = status(repo)
    again = next(i for i in view["instances"] if i["id"] == victim["id"])
    assert again["restarts"] == victim["restarts"] + 1 and again["in_rotation"]  # this kill's
    assert any(f"instance {victim['index']} exited" in t for t in events(repo))
    assert any(f"instance {victim['index']} started again" in t for t in events(repo))


def test_a_dead_router_is_restarted_with_its_table(fleets: Fleets) -> None:
    repo, port, _ = running(fleets, 2)
    before = in_rotation(repo)
    info = json.loads((repo / ".lockgate/fleet/test/router.json").read_text())
    os.killpg(info["pid"], signal.SIGKILL)
    eventually(lambda: in_rotation(repo) == before, what="router back with its table")
    with httpx.Client() as client:
        answers = {client.get(f"http://127.0.0.1:{port}/").status_code for _ in range(20)}
    assert answers == {200}
    assert any("router was not running" in t for t in events(repo))


def test_status_is_degraded_without_a_router_and_says_what_to_do(fleets: Fleets) -> None:
    repo, _, _ = running(fleets, 2)
    stop_agent(repo)  # nobody repairs it now
    info = json.loads((repo / ".lockgate/fleet/test/router.json").read_text())
    os.killpg(info["pid"], signal.SIGKILL)
    eventually(lambda: gone(info["pid"]), 10, "the router gone")
    done = lockgate("status", "test", "-o", "json", cwd=repo)
    assert done.returncode == 3, done.stdout + done.stderr
    view = json.loads(done.stdout)
    assert view["health"] == "degraded" and "the router is down" in view["reasons"]
    assert view["agent"] is False and "lockgate agent" in view["next"]
    words = lockgate("status", "test", cwd=repo)
    assert words.returncode == 3 and "degraded" in words.stdout and "next:" in words.stdout
    assert lockgate("status", "test", cwd=repo).returncode == 3  # it repaired nothing


def test_an_unready_instance_leaves_rotation_and_comes_back(fleets: Fleets) -> None:
    repo, port, v1 = running(fleets, 3)
    victim = status(repo)["instances"][0]
    marker = release_of(repo, victim["index"], v1) / "unready"
    with Load(port) as load:
        marker.write_text("")
        eventually(lambda: victim["id"] not in in_rotation(repo), what="out of rotation")
        view = status(repo, healthy=False)
        assert view["health"] == "degraded"
        assert f"instance {victim['index']} is not ready (out of rotation)" in view["reasons"]
        marker.unlink()
        eventually(serving(repo, 3), what="back in rotation")
    assert load.errors == []
    texts = events(repo)
    assert any("failed its readiness check" in t for t in texts)
    assert any("back in rotation" in t for t in texts)


def test_an_instance_on_another_release_is_replaced(fleets: Fleets) -> None:
    repo, _, v1 = running(fleets, 2)
    victim = status(repo)["instances"][1]
    (release_of(repo, victim["index"], v1) / ".lockgate-digest").write_text("f" * 64 + "\n")
    eventually(lambda: any("(drift)" in t for t in events(repo)), what="drift noticed")
    eventually(serving(repo, 2), what="replaced")
    again = next(i for i in status(repo)["instances"] if i["id"] == victim["id"])
    assert again["digest"] == v1 and again["in_rotation"]


def test_a_crash_looping_instance_backs_off_and_is_reported(fleets: Fleets) -> None:
    repo, _ = fleets(1, "rolling")
    crashes = build(repo, app_version(repo, "crashes", crash_after_ms=300))
    assert deploy(repo, crashes)[0] == 0  # no bake asked for: ready was enough

    def looping() -> bool:
        done = lockgate("status", "test", "-o", "json", cwd=repo)
        view = json.loads(done.stdout)
        return done.returncode == 3 and any("crash-looping" in r for r in view["reasons"])

    eventually(looping, 60, "reported as crash-looping")
    texts = events(repo)
    delays = [t.split("restarting ")[1].split(";")[0] for t in texts if "restarting" in t]
    assert delays[:3] == ["now", "in 1s", "in 2s"], texts


def test_a_version_that_crashes_during_its_bake_is_rolled_back(fleets: Fleets) -> None:
    repo, port = fleets(2, "rolling", **{"min-ready-seconds": 6})
    v1 = build(repo, app_version(repo, "v1"))
    crashes = build(repo, app_version(repo, "crashes", crash_after_ms=2500))
    assert deploy(repo, v1)[0] == 0
    with Load(port) as load:
        code, report = deploy(repo, crashes)
    assert code == 1 and report["result"] == "rolled_back", report
    assert "during its bake" in report["message"]
    assert len(load.errors) <= 2, load.errors  # at most a response cut by each crash
    view = status(repo)
    assert {i["digest"] for i in view["instances"]} == {v1}
    assert view["health"] == "healthy"


def test_killed_deploy_and_agent_lose_nothing(fleets: Fleets) -> None:
    repo, port = fleets(3, "rolling")
    v1 = build(repo, app_version(repo, "v1"))
    v2 = build(repo, app_version(repo, "v2", start_delay_ms=1500))
    assert deploy(repo, v1)[0] == 0
    rollout = subprocess.Popen(
        [str(LOCKGATE), "deploy", "env.yaml", "--artifact", v2],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    eventually(lambda: len(fleet_processes(repo)) >= 4, what="the first v2 instance starting")
    os.killpg(rollout.pid, signal.SIGKILL)
    rollout.wait()
    stop_agent(repo)  # both die mid-rollout
    # Commands that are not deploy commands change nothing, not even a dead rollout.
    assert lockgate("runs", cwd=repo).returncode == 0
    view = status(repo, healthy=False)
    assert view["latest"]["status"] == "in_progress" and view["agent"] is False
    assert "no agent is running" in view["next"]
    # A new agent carries the rollout on from the stored state, and it converges.
    agent = subprocess.Popen(
        [str(LOCKGATE), "agent"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        eventually(lambda: status(repo)["latest"]["status"] == "succeeded", 60, "converged")
        view = status(repo)
        assert {i["digest"] for i in view["instances"]} == {v2} and len(view["instances"]) == 3
        ids = {i["id"] for i in view["instances"]}
        eventually(lambda: set(fleet_processes(repo)) == ids, what="no orphans, none left over")
        assert set(router_table(repo)) == {i["id"] for i in view["instances"]}
        with httpx.Client() as client:
            codes = {client.get(f"http://127.0.0.1:{port}/").status_code for _ in range(10)}
        assert codes == {200}
        second = lockgate("agent", cwd=repo)  # one agent per repository
        assert second.returncode == 2 and "already" in second.stderr
    finally:
        agent.send_signal(signal.SIGTERM)  # as systemd stops it
        output = agent.communicate(timeout=30)[0].decode()
    assert agent.returncode == 0 and "stopped" in output


def test_status_neither_waits_nor_changes_anything(fleets: Fleets) -> None:
    repo, _, _ = running(fleets, 2)
    stop_agent(repo)
    database = repo / ".lockgate" / "lockgate.db"
    before = database.read_bytes()
    with (repo / ".lockgate/fleet/test/.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a pass in progress holds it
        done = subprocess.run(
            [str(LOCKGATE), "status", "test", "-o", "json"], cwd=repo, capture_output=True,
            timeout=30,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["health"] == "healthy"
    assert database.read_bytes() == before
    assert not agents(repo)  # status starts nothing either


def test_a_fleet_deployed_from_a_workflow_step_outlives_the_run(fleets: Fleets) -> None:
    """A continuous-delivery job that runs `lockgate deploy`: the run's cleanups (job marker,
    run marker, its subreaper's children) spare the fleet, its router and its agent."""
    repo, port = fleets(2, "rolling")
    app_version(repo, "v1")
    workflow = repo / ".github/workflows/cd.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        "on: push\njobs:\n  deliver:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - run: {LOCKGATE} deploy env.yaml --artifact v1 --repo {repo}\n"
        f"        working-directory: {repo}\n"
    )
    done = lockgate("run", "--no-cache", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    started = fleet_processes(repo)  # the run's end signalled what it stops before it ended
    view = status(repo)
    assert view["health"] == "healthy" and len(view["instances"]) == 2
    assert len(agents(repo)) == 1
    with httpx.Client() as client:
        assert {client.get(f"http://127.0.0.1:{port}/").status_code for _ in range(6)} == {200}
    assert fleet_processes(repo) == started and len(started) == 2  # the same ones, still up


def test_a_canary_that_dies_while_paused_is_rolled_back_by_the_agent(fleets: Fleets) -> None:
    repo, _ = fleets(2, "canary", steps=[{"set-weight": 20}, {"pause": "until-promoted"}])
    v1 = build(repo, app_version(repo, "v1"))
    v2 = build(repo, app_version(repo, "v2"))
    assert deploy(repo, v1)[0] == 0
    stable = {i["id"] for i in status(repo)["instances"]}
    code, report = deploy(repo, v2)
    assert code == 0 and report["result"] == "paused", report
    canary = next(i for i in status(repo)["instances"] if i["pool"] == "canary")
    os.killpg(fleet_processes(repo)[canary["id"]], signal.SIGKILL)
    eventually(lambda: status(repo, healthy=False)["latest"]["status"] == "rolled_back", 30,
               "the agent rolled the canary back")  # fmt: skip
    view = status(repo)
    assert {i["id"] for i in view["instances"]} == stable
    assert "lost readiness while paused" in view["latest"]["message"]


def test_an_instance_that_cannot_start_again_is_restored_later(fleets: Fleets) -> None:
    repo, port, v1 = running(fleets, 2)
    victim = status(repo)["instances"][1]
    release = release_of(repo, victim["index"], v1)
    shutil.rmtree(release)
    release.write_text("in the way\n")  # its release cannot be unpacked again
    os.killpg(fleet_processes(repo)[victim["id"]], signal.SIGKILL)
    eventually(lambda: any("could not restore" in t for t in events(repo)), what="a failed try")
    view = status(repo, healthy=False)
    assert view["health"] == "degraded" and "instance 1 is not serving" in view["reasons"]
    release.unlink()
    eventually(serving(repo, 2), what="restored")
    assert any("fleet restored" in t for t in events(repo))
    with httpx.Client() as client:
        assert {client.get(f"http://127.0.0.1:{port}/").status_code for _ in range(6)} == {200}


def test_down_stops_the_fleet_and_the_agent_leaves_it_down(fleets: Fleets) -> None:
    repo, _, _ = running(fleets, 2)
    # The agent was told its store in a file only its owner reads, not in its environment.
    request = repo / ".lockgate" / "agent-request.json"
    assert request.stat().st_mode & 0o777 == 0o600 and "sqlite:///" in request.read_text()
    for pid in agents(repo):
        assert b"LOCKGATE_DB=" not in Path(f"/proc/{pid}/environ").read_bytes()
    done = lockgate("down", "test", cwd=repo)
    assert done.returncode == 0 and "2 instances" in done.stderr, done.stderr
    # With nothing left to keep, the agent stops, and it started nothing before it did.
    eventually(lambda: agents(repo) == [], 30, "the agent stopped after `down`")
    assert fleet_processes(repo) == {}
    agent_log = (repo / ".lockgate" / "agent.log").read_text()
    assert "nothing left to keep converged" in agent_log
    view = status(repo)
    assert view["health"] == "healthy" and view["latest"]["status"] == "stopped"
    assert view["instances"] == [] and "starts it again" in view["next"]


def test_the_agent_stops_with_its_fleet_when_the_repository_is_deleted(fleets: Fleets) -> None:
    repo, port, _ = running(fleets, 2)
    assert agents(repo) and fleet_processes(repo)
    shutil.rmtree(repo)
    eventually(lambda: agents(repo) == [], 30, "the agent stopped")
    eventually(lambda: fleet_processes(repo) == {}, 30, "the instances stopped")

    def router_gone() -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        except httpx.TransportError:
            return True
        return False

    eventually(router_gone, 30, "the router stopped")
