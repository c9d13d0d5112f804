"""What the agent repairs, and how fast, under steady load; and what `status` costs meanwhile.

1. An instance killed with `kill -9`: seconds until the agent takes it out of rotation (its
   next pass) and until it is back in the router's rotation, and the requests that failed
   meanwhile (target 0: the router retries a refused connection).
2. The router killed with `kill -9`: seconds until it serves again, and the requests that
   failed meanwhile (nothing can answer while it is down: reported, not hidden).
3. `lockgate status` during a canary pause: its wall time against `lockgate version` (the
   client's floor) in the same sitting, as a ratio, with the 200 ms target.

Usage: python benchmarks/supervision.py [--replicas 5] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import LOCKGATE, Load, committed_repo, example_app, stop_agent, warm_server

from lockgate.common.ports import free_port


def lockgate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LOCKGATE), *args], cwd=repo, capture_output=True, text=True)


def deploy(repo: Path, env: str, digest: str) -> None:
    done = lockgate(repo, "deploy", env, "--artifact", digest, "-o", "json")
    result = json.loads(done.stdout)["result"] if done.stdout.strip() else done.stderr
    if result not in ("succeeded", "paused"):
        raise SystemExit(f"deploy failed: {done.stdout}{done.stderr}")


def table(repo: Path, env: str) -> dict[str, int]:
    """instance id -> weight, as the router reports it ({} while it is down)."""
    info = json.loads((repo / ".lockgate" / "fleet" / env / "router.json").read_text() or "{}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{info['admin']}/backends", timeout=1) as r:
            return {row["id"]: row["weight"] for row in json.loads(r.read())}
    except (OSError, KeyError, ValueError):
        return {}


def fleet_pids(repo: Path, env: str) -> dict[str, int]:
    marker = f"LOCKGATE_FLEET={repo / '.lockgate' / 'fleet' / env}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            for item in environ:
                if item.startswith(b"LOCKGATE_INSTANCE_ID="):
                    found[item.split(b"=", 1)[1].decode()] = int(entry.name)
    return found


def until(check: object, seconds: float = 60) -> float:
    started = time.perf_counter()
    while not check():  # type: ignore[operator]
        if time.perf_counter() - started > seconds:
            raise SystemExit("gave up waiting")
        time.sleep(0.005)
    return time.perf_counter() - started


def instance_kills(repo: Path, port: int, repeat: int) -> None:
    out: list[float] = []
    times: list[float] = []
    failures = sent = 0
    for attempt in range(repeat):
        before = table(repo, "rolling")
        victim = sorted(before)[attempt % len(before)]  # another each time: no backoff yet
        with Load(port) as load:
            time.sleep(random.uniform(0.3, 1.3))  # any moment between two agent passes
            killed = time.perf_counter()
            os.killpg(fleet_pids(repo, "rolling")[victim], signal.SIGKILL)
            until(lambda v=victim: table(repo, "rolling").get(v) == 0, 10)
            out.append(time.perf_counter() - killed)
            until(lambda v=victim: table(repo, "rolling").get(v, 0) > 0)
            times.append(time.perf_counter() - killed)
            time.sleep(0.5)
        failures, sent = failures + load.failed, sent + load.sent
    print(
        f"instance kill -9 -> out of rotation: median {statistics.median(out):.2f}s; back in "
        f"rotation: median {statistics.median(times):.2f}s, max {max(times):.2f}s over "
        f"{repeat} (probe period 1s); failed requests {failures} of {sent}"
    )


def router_kills(repo: Path, port: int, repeat: int) -> None:
    times, failures, sent = [], 0, 0
    for _ in range(repeat):
        info = json.loads((repo / ".lockgate/fleet/rolling/router.json").read_text())
        with Load(port) as load:
            time.sleep(random.uniform(0.3, 1.3))  # any moment between two agent passes
            os.killpg(info["pid"], signal.SIGKILL)
            killed = time.perf_counter()

            def serving() -> bool:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                        return r.status == 200
                except (urllib.error.URLError, OSError):
                    return False

            until(serving)
            times.append(time.perf_counter() - killed)
            time.sleep(0.5)
        failures, sent = failures + load.failed, sent + load.sent
    print(
        f"router kill -9 -> serving again: median {statistics.median(times):.2f}s, "
        f"max {max(times):.2f}s over {repeat}; failed requests {failures} of {sent}"
    )


def status_latency(repo: Path, repeat: int) -> None:
    def wall(*args: str) -> float:
        started = time.perf_counter()
        lockgate(repo, *args)
        return time.perf_counter() - started

    floor = statistics.median(wall("version") for _ in range(repeat * 4))
    during = [wall("status", "canary", "-o", "json") for _ in range(repeat * 4)]
    view = json.loads(lockgate(repo, "status", "canary", "-o", "json").stdout)
    median = statistics.median(during)
    print(
        f"status during a canary pause ({view['health']}): median {median * 1000:.0f} ms, "
        f"max {max(during) * 1000:.0f} ms (target 200 ms); `lockgate version` "
        f"{floor * 1000:.0f} ms; ratio {median / floor:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warm_server()
    with tempfile.TemporaryDirectory(prefix="lockgate-supervision-bench-") as tmp:
        repo = committed_repo(Path(tmp) / "repo", {"README": "supervision benchmark\n"})
        ports = {"rolling": free_port(), "canary": free_port()}
        (repo / "rolling.yaml").write_text(
            f"app: hello\nenvironment: rolling\ntarget: {{replicas: {args.replicas}}}\n"
            f"router: {{port: {ports['rolling']}}}\n"
        )
        (repo / "canary.yaml").write_text(
            f"app: hello\nenvironment: canary\ntarget: {{replicas: {args.replicas}}}\n"
            f"router: {{port: {ports['canary']}}}\nstrategy:\n  type: canary\n"
            "  steps: [{set-weight: 10}, {pause: until-promoted}]\n"
        )
        try:
            digests = {}
            for version in ("1", "2"):
                example_app(repo / f"v{version}", version=version)
                built = lockgate(repo, "artifact", "build", f"v{version}", "-o", "json")
                digests[version] = json.loads(built.stdout)["digest"]
            deploy(repo, "rolling.yaml", digests["1"])
            until(
                lambda: (
                    (repo / ".lockgate/agent.lock").exists()
                    and lockgate(repo, "status", "rolling", "-o", "json").stdout.count(
                        '"agent": true'
                    )
                    > 0
                )
            )
            instance_kills(repo, ports["rolling"], args.repeat)
            router_kills(repo, ports["rolling"], args.repeat)
            deploy(repo, "canary.yaml", digests["1"])
            deploy(repo, "canary.yaml", digests["2"])  # now paused until promoted
            status_latency(repo, args.repeat)
        finally:
            stop_agent(repo)
            for env in ("rolling", "canary"):
                lockgate(repo, "down", env)


if __name__ == "__main__":
    main()
