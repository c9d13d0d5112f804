"""A multi-region environment end to end: regions that are groups of real SSH hosts (sshd on
127.0.0.N), each with its own router, behind a global router, under steady load. A release
goes through its waves, its agent killed with kill -9 on the way; a bad one is stopped in the canary region before any other region
sees it; traffic switches between regions in one change; a region whose host is lost is
drained to the others. Policies and bad input refuse a release before anything changes; a
rollback brings every region back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import lockgate, make_repo
from .fleet import (
    Load,
    agents,
    app_version,
    build,
    eventually,
    free_port,
    processes_of,
    stop_agent,
    teardown,
)
from .serving import bearer, start_server
from .sshd import Hosts, ssh_hosts

pytestmark = pytest.mark.integration
__all__ = ["ssh_hosts"]  # the fixture, used by name

REGIONS = ("eu-west", "eu-central", "us-east")
# The flow is under test here, not the judge (tests/unit/deploy/analysis): the error rate
# alone decides, within 20%, which about 25 requests a side show at 99% confidence (a light
# load: every request crosses two routers, and requests are most of this test's CPU).
ANALYSIS = {
    "interval": 1,
    "min-samples": 20,
    "metrics": [{"name": "error-rate", "tolerance": 0.2}],
}
WAVES = [
    {"regions": ["eu-west"], "instances": 1, "bake": 2},
    {"regions": ["eu-west"], "bake": 0.5},
    {"regions": ["eu-central", "us-east"], "bake": 0.5},
]
# Over SSH, two regions (each SSH pass costs a loaded machine seconds): the canary region
# with two instances on one host, and one more region on another host.
SSH_REGIONS = ("eu-west", "us-east")
SSH_WAVES = [*WAVES[:2], {"regions": ["us-east"], "bake": 0.5}]


def _environment(target: dict[str, object], port: int, region_ports: list[int]) -> str:
    regions = [
        {"name": name, "labels": {"jurisdiction": name[:2]}, "target": target(i),  # type: ignore[operator]
         "router": {"port": region_ports[i]}}
        for i, name in enumerate(SSH_REGIONS)
    ]  # fmt: skip
    document = {
        "app": "shop",
        "global-router": {"port": port},
        "regions": regions,
        "waves": SSH_WAVES,
        "strategy": {"analysis": ANALYSIS},
    }
    return json.dumps(document, indent=2)


@pytest.fixture
def shop(ssh_hosts: Hosts, tmp_path: Path) -> Iterator[tuple[Path, int, Hosts]]:
    """A repository whose `shop.yaml` puts each region on its own SSH host (two instances in
    the canary region, one in the other); (repository, global router port, the hosts)."""
    port, ports = free_port(), [free_port() for _ in SSH_REGIONS]

    def target(i: int) -> dict[str, object]:
        one = Hosts([ssh_hosts.hosts[i]], ssh_hosts.identity, ssh_hosts.known_hosts)
        return one.target(replicas=2 - i, **{"connect-timeout": 2})  # a lost host: seen soon

    repo = make_repo(tmp_path / "repo", {"shop.yaml": _environment(target, port, ports)})
    try:
        yield repo, port, ssh_hosts
    finally:
        teardown(repo, ("shop", *(f"shop.{r}" for r in SSH_REGIONS)))  # (ssh_hosts: the hosts')


def _release(repo: Path, digest: str) -> dict:  # type: ignore[type-arg]
    """Deploy to the environment and follow the release; a wave whose analysis could not
    prove anything in its bake on this loaded machine pauses, and is promoted (the flow is
    under test)."""
    done = lockgate("deploy", "shop.yaml", "--artifact", digest, "-o", "json", cwd=repo)
    report = json.loads(done.stdout)
    for _ in range(len(SSH_WAVES)):
        if report["result"] != "paused":
            break
        done = lockgate("promote", "shop", "-o", "json", cwd=repo)
        report = json.loads(done.stdout)
    return dict(report)


def _view(repo: Path) -> dict:  # type: ignore[type-arg]
    done = lockgate("status", "shop", "-o", "json", cwd=repo)
    assert done.returncode in (0, 3), done.stderr
    return dict(json.loads(done.stdout))


def _regions(repo: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["region"]: r for r in _view(repo)["regions"]}


def _global(repo: Path) -> dict[str, tuple[int, int]]:
    """Region -> (weight, requests sent to it), as the global router itself says (cheaper to
    ask often than a status, which looks at every host)."""
    admin = json.loads((repo / ".lockgate" / "fleet" / "shop" / "router.json").read_text())
    rows = httpx.get(f"http://127.0.0.1:{admin['admin']}/backends").json()
    return {row["id"]: (row["weight"], row["requests"]) for row in rows}


def _sent(repo: Path) -> dict[str, int]:
    return {region: sent for region, (_, sent) in _global(repo).items()}


def test_a_release_goes_through_waves_and_a_bad_one_stops_in_the_canary_region(
    shop: tuple[Path, int, Hosts],
) -> None:
    repo, port, hosts = shop
    v1 = build(repo, app_version(repo, "v1"))
    v2 = build(repo, app_version(repo, "v2"))
    bad = build(repo, app_version(repo, "v3", error_rate=0.5))
    first = _release(repo, v1)
    assert first["result"] == "succeeded", first
    assert {r["digest"] for r in _regions(repo).values()} == {v1}

    began = time.monotonic()
    killer = threading.Timer(2, stop_agent, [repo])  # kill -9 of the agent mid-release
    with Load(port, workers=1) as load:
        killer.start()
        second = _release(repo, v2)
    killer.join()
    assert second["result"] == "succeeded", second
    assert load.errors == [], load.errors[:5]
    regions = _regions(repo)
    assert {r["digest"] for r in regions.values()} == {v2}
    assert [r["serving"] for r in regions.values()] == [2, 1]
    assert all(r["traffic"]["weight"] > 0 for r in regions.values())
    assert time.monotonic() - began >= sum(w["bake"] for w in SSH_WAVES)  # type: ignore[misc]

    with Load(port, workers=1) as load:
        third = _release(repo, bad)
    assert third["result"] == "failed", third
    assert third["message"].startswith("wave 1/3 (1 instance(s) of eu-west)"), third
    regions = _regions(repo)
    assert {r["digest"] for r in regions.values()} == {v2}
    # The region after the canary region never saw it: its last rollout is still v2's.
    assert regions["us-east"]["latest"]["digest"] == v2, regions["us-east"]
    served = {body.split()[1] for _, code, body in load.results if code == 200}
    assert served == {"v2", "v3"}  # v3 from the one canary instance, until it was stopped
    waves = lockgate("waves", "status", "shop", cwd=repo)
    assert waves.returncode == 0 and "no release in flight" in waves.stdout, waves.stdout

    # All traffic to one region, in one change, with no failed request.
    with Load(port, workers=1) as load:
        switched = lockgate("traffic", "shop", "us-east=100", cwd=repo)
        assert switched.returncode == 0, switched.stderr
        before = _sent(repo)
        eventually(lambda: _sent(repo)["us-east"] > before["us-east"] + 20, 30, "switch")
        after = _sent(repo)
    assert load.errors == [], load.errors[:5]
    assert after["eu-west"] == before["eu-west"]

    # The region that takes all the traffic loses its host: it is drained, the idle regions
    # take over, and that costs no request.
    with Load(port, workers=1) as load:
        hosts.hosts[1].cut()
        eventually(lambda: _global(repo)["us-east"][0] == 0, 60, "us-east drained")
        before = _sent(repo)
        eventually(lambda: _sent(repo)["eu-west"] > before["eu-west"] + 20, 30, "taken over")
        assert _sent(repo)["us-east"] == before["us-east"]
    assert load.errors == [], load.errors[:5]
    view = _view(repo)
    assert view["health"] == "degraded"
    assert any("us-east is drained" in reason for reason in view["reasons"]), view["reasons"]
    drained = {r["region"]: r["traffic"] for r in view["regions"]}["us-east"]
    assert (drained["healthy"], drained["asked"], drained["weight"]) == (False, 100, 0)


POLICY = """package lockgate.residency
import rego.v1
deny contains msg if {
	input.release.labels["data-classification"] == "eu-personal"
	some region in input.regions
	object.get(region.labels, "jurisdiction", "none") != "eu"
	msg := sprintf("EU personal data may not run in region %s", [region.name])
}
"""


def _local(port: int, ports: list[int], labels: list[str], waves: object, replicas: int = 2) -> str:
    regions = [
        {"name": name, "labels": {labels[i]: name[:2]}, "target": {"replicas": replicas},
         "router": {"port": ports[i]}}
        for i, name in enumerate(REGIONS)
    ]  # fmt: skip
    document = {"app": "ledger", "environment": "shop", "global-router": {"port": port}}
    return json.dumps({**document, "regions": regions, "waves": waves})


def test_policies_and_bad_input_refuse_a_release_before_anything_changes(
    tmp_path: Path,
) -> None:
    port, ports = free_port(), [free_port() for _ in REGIONS]
    jurisdiction = ["jurisdiction"] * 3
    files = {
        "policies/residency.rego": POLICY,
        "shop.yaml": _local(port, ports, jurisdiction, WAVES),
        "typo.yaml": _local(port, ports, ["jurisdiction", "jurisdicton", "jurisdiction"], WAVES),
        "nowhere.yaml": _local(port, ports, jurisdiction, [*WAVES, {"regions": ["mars"]}]),
        "quick.yaml": _local(port, ports, jurisdiction, [], 1),  # region by region, no bake
    }
    repo = make_repo(tmp_path / "repo", files)
    try:
        folder = app_version(repo, "v1")
        (folder / "lockgate-app.yaml").write_text(
            (folder / "lockgate-app.yaml").read_text()
            + "labels: {data-classification: eu-personal}\n"
        )
        digest = build(repo, folder)
        refused = lockgate("deploy", "shop.yaml", "--artifact", digest, cwd=repo)
        assert refused.returncode == 1
        assert "EU personal data may not run in region us-east" in refused.stderr, refused.stderr
        typo = lockgate("deploy", "typo.yaml", "--artifact", digest, cwd=repo)
        assert typo.returncode == 1
        assert "label 'jurisdicton' of region eu-central is read by no policy" in typo.stderr
        nowhere = lockgate("deploy", "nowhere.yaml", "--artifact", digest, cwd=repo)
        assert nowhere.returncode == 2, nowhere.stderr
        assert "wave 4 names region 'mars'" in nowhere.stderr
        assert "Traceback" not in refused.stderr + typo.stderr + nowhere.stderr
        # Nothing was started anywhere: no release, no instance, no router.
        for name in ("shop", *(f"shop.{r}" for r in REGIONS)):
            assert processes_of(repo / ".lockgate" / "fleet" / name) == {}
            assert not (repo / ".lockgate" / "fleet" / name / "router.json").exists()
        assert not (repo / ".lockgate" / "fleet" / "shop" / "router.json").exists()

        # What policies allow goes out, region by region; a rollback brings every region back.
        v1, v2 = build(repo, app_version(repo, "plain1")), build(repo, app_version(repo, "plain2"))
        for digest in (v1, v2):
            done = lockgate("deploy", "quick.yaml", "--artifact", digest, "-o", "json", cwd=repo)
            assert json.loads(done.stdout)["result"] == "succeeded", done.stdout + done.stderr
        back = lockgate("rollback", "shop", "-o", "json", cwd=repo)
        assert json.loads(back.stdout)["result"] == "succeeded", back.stdout + back.stderr
        assert {r["digest"] for r in _regions(repo).values()} == {v1}

        # the rollback returned once every region served v1; what it replaced stops gracefully
        def replaced_stopped() -> bool:
            fleets = (repo / ".lockgate" / "fleet" / f"shop.{r}" for r in REGIONS)
            return all(len(processes_of(fleet)) == 1 for fleet in fleets)

        eventually(replaced_stopped, 30, "the replaced instances to stop")
        history = lockgate("status", "shop", "-o", "json", cwd=repo).stdout
        assert json.loads(history)["latest"]["digest"] == v1

        # The server shows each region: the API's view, and the environment's page.
        store = f"sqlite:///{repo / '.lockgate' / 'lockgate.db'}"  # where the CLI recorded
        server = start_server(tmp_path / "home", 0, "--deployments", str(repo), "--db", store)
        try:
            shown = server.get("/api/v1/environments/shop")
            assert [(r["region"], r["digest"]) for r in shown["regions"]] == [
                (name, v1) for name in REGIONS
            ]
            assert shown["latest"]["digest"] == v1 and shown["releases"] == []
            page = httpx.get(f"{server.url}/environments/shop", headers=bearer(server.token))
            assert page.status_code == 200 and 'id="regions"' in page.text
            assert all(f'data-region="{name}"' in page.text for name in REGIONS)
        finally:
            server.process.kill()
            server.process.wait()

        # Down: every region and the global router stop, and stay stopped (the agent leaves).
        down = lockgate("down", "shop", cwd=repo)
        assert down.returncode == 0 and "stopped 3 instances" in down.stdout + down.stderr
        eventually(lambda: not agents(repo), 30, "the agent left: nothing to keep")
        assert not (repo / ".lockgate" / "fleet" / "shop" / "router.json").exists()
        for name in (f"shop.{r}" for r in REGIONS):
            assert processes_of(repo / ".lockgate" / "fleet" / name) == {}
    finally:
        teardown(repo, ("shop", *(f"shop.{r}" for r in REGIONS)))
