"""A three-region release over SSH host groups (sshd on 127.0.0.2-4, one host a region,
two instances each) behind a global router, under steady load, at the default analysis
settings:

- a good release through its waves (one canary instance in eu-west, the rest of eu-west,
  then eu-central and us-east together): its total time against the sum of its bakes and of
  its regions' rollouts (the baseline: what the waves cannot avoid), as a ratio;
- a bad release (30% errors): the wave it stopped in, and the requests it answered outside
  the canary region (target 0);
- all traffic switched to one region, then that region's host lost: failed requests;
- the policies' decision for a three-region release, per call.

A wave whose analysis ends inconclusive pauses; the benchmark promotes it and counts it.

Usage (as root, with openssh-server installed): python benchmarks/regions.py [--bake 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    LOCKGATE,
    ROOT,
    Load,
    committed_repo,
    example_app,
    lockgate_json,
    stop_agent,
    warm_server,
)

from lockgate.common.ports import free_port

sys.path.insert(0, str(ROOT))
from ssh_hosts import start_hosts
from tests.e2e.sshd import Host

REGIONS = ("eu-west", "eu-central", "us-east")


def environment(hosts: list[Host], identity: Path, known: Path, bake: float) -> dict:  # type: ignore[type-arg]
    regions = [
        {"name": name, "labels": {"jurisdiction": name[:2]}, "router": {"port": free_port()},
         "target": {"type": "ssh", "user": "root", "identity-file": str(identity),
                    "known-hosts": str(known), "replicas": 2, "hosts": [host.entry()]}}
        for name, host in zip(REGIONS, hosts, strict=True)
    ]  # fmt: skip
    waves = [
        {"regions": ["eu-west"], "instances": 1, "bake": bake},
        {"regions": ["eu-west"], "bake": bake / 2},
        {"regions": ["eu-central", "us-east"], "bake": bake / 2},
    ]
    return {"app": "shop", "environment": "shop", "global-router": {"port": free_port()},
            "regions": regions, "waves": waves}  # fmt: skip


def release(repo: Path, digest: str) -> tuple[dict, int]:  # type: ignore[type-arg]
    """Deploy and follow the release, promoting inconclusive pauses: (result, pauses)."""
    done = subprocess.run([str(LOCKGATE), "deploy", "shop.yaml", "--artifact", digest, "-o",
                           "json"], cwd=repo, capture_output=True, text=True)  # fmt: skip
    report, pauses = json.loads(done.stdout), 0
    while report["result"] == "paused":
        pauses += 1
        report = lockgate_json(repo, "promote", "shop")
    return report, pauses


def rollouts_of(repo: Path, release_id: int) -> float:
    """Seconds the release's waves spent rolling out (not baking, not paused): from each
    wave's deploy (or canary promotion) to its "rolled out", as the release's events say."""
    from lockgate.store import Store
    from lockgate.store.database import default_url
    from lockgate.store.deployments import DeploymentRecords

    records = DeploymentRecords(Store(default_url(repo)))
    began: float | None = None
    total = 0.0
    for event in records.events("shop", deployment_id=release_id):
        if ": deploying to " in event.text or ": the canary goes on" in event.text:
            began = event.at
        elif ": rolled out;" in event.text and began is not None:
            total, began = total + event.at - began, None
    return total


def global_table(repo: Path) -> dict[str, tuple[int, int]]:
    import httpx

    admin = json.loads((repo / ".lockgate" / "fleet" / "shop" / "router.json").read_text())
    rows = httpx.get(f"http://127.0.0.1:{admin['admin']}/backends").json()
    return {row["id"]: (row["weight"], row["requests"]) for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bake", type=float, default=10, help="the canary wave's bake (s)")
    args = parser.parse_args()
    warm_server()
    with tempfile.TemporaryDirectory(prefix="lockgate-regions-bench-") as tmp:
        root = Path(tmp)
        hosts, identity, known = start_hosts(root)
        spec = environment(hosts, identity, known, args.bake)
        repo = committed_repo(root / "repo", {"shop.yaml": json.dumps(spec)})
        port = spec["global-router"]["port"]
        try:
            digests = {}
            for version, behavior in (("v1", {}), ("v2", {}), ("v3", {"error_rate": 0.3})):
                example_app(repo / version, version=version, **behavior)
                digests[version] = lockgate_json(repo, "artifact", "build", version)["digest"]
            release(repo, digests["v1"])

            bakes = sum(w["bake"] for w in spec["waves"])
            with Load(port, workers=4) as load:
                started = time.perf_counter()
                good, pauses = release(repo, digests["v2"])
                total = time.perf_counter() - started
            rolled = rollouts_of(repo, good["release"])
            print(f"good release: {good['result']} in {total:.1f}s; bakes {bakes:.1f}s + "
                  f"regional rollouts {rolled:.1f}s = {bakes + rolled:.1f}s; ratio "
                  f"{total / (bakes + rolled):.2f}; {pauses} inconclusive pause(s) promoted; "
                  f"{load.failed} of {load.sent} requests failed")  # fmt: skip

            with Load(port, workers=4) as load:
                bad, _ = release(repo, digests["v3"])
            others = {
                name: [
                    r for r in lockgate_json(repo, "status", f"shop.{name}")["instances"]
                    if r["digest"] == digests["v3"]
                ]
                for name in REGIONS[1:]
            }  # fmt: skip
            view = lockgate_json(repo, "status", "shop")
            runs_v3 = [r["region"] for r in view["regions"] if r["digest"] == digests["v3"]]
            print(f"bad release: {bad['result']} — {bad['message']}; v3 instances in other "
                  f"regions afterwards: {sum(map(len, others.values()))}; regions whose rollout "
                  f"history names v3: {_regions_with(repo, digests['v3'])}; regions running "
                  f"it now: {runs_v3 or 'none'}; requests that failed (the canary's "
                  f"errors): {load.failed} of {load.sent}")  # fmt: skip

            with Load(port, workers=4) as load:
                before = global_table(repo)
                switched = time.perf_counter()
                subprocess.run([str(LOCKGATE), "traffic", "shop", "eu-central=100"], cwd=repo,
                               check=True, capture_output=True)  # fmt: skip
                took = time.perf_counter() - switched
                time.sleep(2)
                after = global_table(repo)
            moved = {r: after[r][1] - before[r][1] for r in REGIONS}
            print(f"switch to eu-central: applied in {took:.2f}s; requests in the next 2s per "
                  f"region {moved}; {load.failed} of {load.sent} failed")  # fmt: skip

            with Load(port, workers=4) as load:
                cut = time.perf_counter()
                hosts[1].cut()
                while global_table(repo)["eu-central"][0] != 0:
                    time.sleep(0.05)
                drained = time.perf_counter() - cut
                time.sleep(2)
            print(f"eu-central's host lost: drained in {drained:.2f}s; {load.failed} of "
                  f"{load.sent} requests failed")  # fmt: skip
            print(f"policy decision for the three regions: {policy_ms(repo, spec, digests['v2'])}")
        finally:
            for host in hosts:  # the lost one back, so `down` reaches its instances
                if host.process is None or host.process.poll() is not None:
                    host.start()
            stop_agent(repo)
            subprocess.run([str(LOCKGATE), "down", "shop"], cwd=repo, capture_output=True)
            for host in hosts:
                host.stop()
                host.stop_agent()


def _regions_with(repo: Path, digest: str) -> list[str]:
    from lockgate.store import Store
    from lockgate.store.database import default_url
    from lockgate.store.deployments import DeploymentRecords

    records = DeploymentRecords(Store(default_url(repo)))
    return [n for n in REGIONS if any(r.digest == digest for r in records.history(f"shop.{n}"))]


def policy_ms(repo: Path, spec: dict, digest: str) -> str:  # type: ignore[type-arg]
    """Median of 50 decisions (after the first, which compiles) on the parent's input: every
    region with its hosts."""
    from lockgate.deploy.envfile import EnvironmentFile
    from lockgate.deploy.service import DeployService
    from lockgate.store import Store
    from lockgate.store.database import default_url
    from lockgate.store.deployments import DeploymentRecords

    (repo / "policies").mkdir(exist_ok=True)
    residency = (ROOT / "examples" / "policies" / "residency.rego").read_text()
    (repo / "policies" / "residency.rego").write_text(residency)
    service = DeployService(repo, DeploymentRecords(Store(default_url(repo))))
    parsed = EnvironmentFile.model_validate(spec)
    service.refusal("shop", parsed, digest, "bench")
    times = []
    for _ in range(50):
        started = time.perf_counter()
        service.refusal("shop", parsed, digest, "bench")
        times.append(time.perf_counter() - started)
    return f"{statistics.median(times) * 1000:.1f} ms (median of 50)"


if __name__ == "__main__":
    main()
