"""Rollouts of 20 instances and the router's cost, timed in one sitting.

1. Blue-green (1 batch) and rolling (max-surge 5: 4 batches) of 20 local instances: wall time
   of `lockgate deploy` (the agent running, as after the first deploy) against the ideal: the
   time to start a batch of instances at once and see them ready (measured here, straight
   through the target, between the deploys), times the number of batches. Medians of three.
2. Router: requests per second and latency through the built-in router against hitting one
   instance directly, with the same load generator (keep-alive connections) in the same run.

Usage: python benchmarks/rollout.py [--replicas 20] [--seconds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import LOCKGATE, committed_repo, example_app, lockgate_json, stop_agent, warm_server

from lockgate.artifacts.manifest import load_manifest
from lockgate.deploy.targets.base import Look
from lockgate.deploy.targets.local import LocalTarget
from lockgate.store.deployments import Instance, InstanceState


def make_repo(root: Path) -> Path:
    """A repository with two versions of the example app, v1 and v2."""
    committed_repo(root, {"README": "rollout benchmark\n"})
    for version in ("1", "2"):
        example_app(root / f"v{version}", version=version)
    return root


def environment(repo: Path, name: str, replicas: int, strategy: str, port: int) -> Path:
    path = repo / f"{name}.yaml"
    extra = "  max-surge: 5\n" if strategy == "rolling" else "  scale-down-delay: 0\n"
    path.write_text(
        f"app: hello\nenvironment: {name}\ntarget: {{replicas: {replicas}}}\n"
        f"router: {{port: {port}}}\nstrategy:\n  type: {strategy}\n{extra}"
    )
    return path


def wait_for_agent(repo: Path, environment: str) -> None:
    deadline = time.monotonic() + 30
    while not lockgate_json(repo, "status", environment)["agent"]:
        if time.monotonic() > deadline:
            raise SystemExit("the agent did not start")
        time.sleep(0.1)


def batch_seconds(repo: Path, digest: str, size: int) -> float:
    """Start `size` instances at once and wait until all are ready, straight through the local
    target: one batch of an ideal rollout on this machine (its cores start them in parallel)."""
    target = LocalTarget(repo / ".lockgate" / "bench-batch")
    bundle = repo / ".lockgate" / "bundles" / f"{digest}.tar.gz"
    app = load_manifest(repo / "v1")
    timings = []
    for attempt in range(3):
        instances = [
            Instance(f"b{attempt}-{i}", "bench", i, digest, "stable", InstanceState.STARTING)
            for i in range(size)
        ]
        started = time.perf_counter()
        for instance in instances:
            placed = target.start(instance, bundle, app)
            instance.ref, instance.address = placed.ref, placed.address
        for instance in instances:
            while not target.observe([Look(instance, app)])[0].ready:
                time.sleep(0.01)
        timings.append(time.perf_counter() - started)
        for instance in instances:
            target.kill(instance)
    return statistics.median(timings)


async def load(port: int, seconds: float, connections: int) -> tuple[float, list[float]]:
    """(requests per second, latencies) of GET / over keep-alive connections."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return len(latencies) / (time.perf_counter() - began), latencies


def describe(label: str, rps: float, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    return f"{label}: {rps:8.0f} req/s, p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    warm_server()
    from lockgate.common.ports import free_port

    with tempfile.TemporaryDirectory(prefix="lockgate-rollout-bench-") as tmp:
        repo = make_repo(Path(tmp) / "repo")
        try:
            v1 = lockgate_json(repo, "artifact", "build", "v1")["digest"]
            v2 = lockgate_json(repo, "artifact", "build", "v2")["digest"]
            for strategy, size in (("blue-green", args.replicas), ("rolling", 5)):
                batches = -(-args.replicas // size)
                env = environment(repo, strategy, args.replicas, strategy, free_port())
                lockgate_json(repo, "deploy", str(env), "--artifact", v1)
                wait_for_agent(repo, strategy)  # the first deploy started it
                walls, units, result = [], [], ""
                for digest in (v2, v1, v2):  # interleaved with the ideal: same conditions
                    units.append(batch_seconds(repo, v1, size))
                    started = time.perf_counter()
                    result = lockgate_json(repo, "deploy", str(env), "--artifact", digest)["result"]
                    walls.append(time.perf_counter() - started)
                wall, unit = statistics.median(walls), statistics.median(units)
                ideal = unit * batches
                print(
                    f"{strategy} of {args.replicas}: {wall:.2f}s (median of 3); ideal "
                    f"{ideal:.2f}s = {batches} x {unit:.2f}s to start {size} instances and see "
                    f"them ready; ratio {wall / ideal:.2f} ({result})"
                )
                if strategy == "blue-green":
                    subprocess.run([str(LOCKGATE), "down", strategy], cwd=repo, check=True)
            status = lockgate_json(repo, "status", "rolling")
            router_port = int(status["router"].rsplit(":", 1)[1])
            direct_port = int(status["instances"][0]["address"].rsplit(":", 1)[1])
            direct = asyncio.run(load(direct_port, args.seconds, args.connections))
            routed = asyncio.run(load(router_port, args.seconds, args.connections))
            print(describe("direct to one instance", *direct))
            print(describe(f"through the router ({args.replicas} instances)", *routed))
            added = statistics.median(routed[1]) - statistics.median(direct[1])
            print(
                f"router: {routed[0] / direct[0]:.2f}x the requests per second of one instance, "
                f"{added * 1000:+.2f} ms median latency"
            )
        finally:  # never leave a fleet running, whatever failed
            stop_agent(repo)
            for name in ("rolling", "blue-green"):
                subprocess.run([str(LOCKGATE), "down", name], cwd=repo, capture_output=True)


if __name__ == "__main__":
    main()
