"""Honest canary statistics on the example app under bounded load, in one sitting:

- a canary with 5% extra errors, 20 runs: how many are rolled back, and within how many
  analysis intervals;
- a canary with +100 ms latency, 20 runs: the same;
- a canary identical to stable, 20 runs: how many are promoted (the false-rollback rate).

Each run deploys to a fleet of 2 stable instances (1 canary, 1 baseline) with one analysis step
of 2 measurements of `--interval` seconds at 25% canary weight, while 8 client threads send
requests. Time to decision is from the weight change to the verdict.

Usage: python benchmarks/canary_honesty.py [--runs 20] [--interval 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import LOCKGATE, Load, committed_repo, example_app, warm_server


def lockgate(repo: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    done = subprocess.run(
        [str(LOCKGATE), *args, "-o", "json"], cwd=repo, capture_output=True, text=True
    )
    if not done.stdout.strip():
        raise SystemExit(f"lockgate {' '.join(args)} failed:\n{done.stderr}")
    return done.returncode, dict(json.loads(done.stdout))


def app(repo: Path, name: str, **behavior: object) -> str:
    """Build a version of the example app; its digest."""
    example_app(repo / name, version=name, **behavior)
    return str(lockgate(repo, "artifact", "build", name)[1]["digest"])


def decision_seconds(report: dict) -> float:  # type: ignore[type-arg]
    events = report["events"]
    start = next(t for t, text in events if text.startswith("canary weight"))
    verdict = next(
        t for t, text in events if text.startswith(("rollout failed", "analysis passed"))
    )
    return float(verdict - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    warm_server()
    from lockgate.common.runtime import free_port

    with tempfile.TemporaryDirectory(prefix="lockgate-canary-bench-") as tmp:
        repo = Path(tmp)
        committed_repo(repo, {"README": "canary benchmark\n"})
        port = free_port()
        (repo / "env.yaml").write_text(
            f"app: hello\nenvironment: canary\ntarget: {{replicas: 2}}\n"
            f"router: {{port: {port}}}\nstrategy:\n  type: canary\n"
            "  steps: [{set-weight: 25}, {analysis: {}}]\n"
            f"  analysis: {{interval: {args.interval}, count: 2}}\n"
        )
        try:
            stable = [app(repo, "stable-a"), app(repo, "stable-b")]  # identical behaviour
            cases = {
                "5% extra errors": app(repo, "errors", error_rate=0.05),
                "+100 ms latency": app(repo, "slow", delay_ms=100),
            }
            lockgate(repo, "deploy", "env.yaml", "--artifact", stable[0])
            current = 0
            with Load(port):
                for label, digest in cases.items():
                    outcomes, times, intervals = [], [], []
                    for _ in range(args.runs):
                        _, report = lockgate(repo, "deploy", "env.yaml", "--artifact", digest)
                        outcomes.append(report["result"])
                        times.append(decision_seconds(report))
                        intervals.append(
                            sum(1 for _, t in report["events"] if t.startswith("analysis "))
                        )
                    rolled = outcomes.count("rolled_back")
                    print(
                        f"canary with {label}: rolled back in {rolled} of {args.runs} runs; "
                        f"decided after at most {max(intervals)} analysis intervals; time to "
                        f"decision median {statistics.median(times):.1f}s, max {max(times):.1f}s"
                    )
                outcomes, times = [], []
                for _ in range(args.runs):
                    current = 1 - current
                    _, report = lockgate(repo, "deploy", "env.yaml", "--artifact", stable[current])
                    outcomes.append(report["result"])
                    if report["result"] in ("succeeded", "rolled_back"):
                        times.append(decision_seconds(report))
                    if report["result"] != "succeeded":  # keep stable what the fleet now runs
                        current = 1 - current
                promoted = outcomes.count("succeeded")
                print(
                    f"canary identical to stable: promoted in {promoted} of {args.runs} runs "
                    f"(false-rollback rate {(args.runs - promoted) / args.runs:.0%}; others: "
                    f"{sorted(set(outcomes) - {'succeeded'}) or 'none'}); time to decision "
                    f"median {statistics.median(times):.1f}s"
                )
        finally:  # never leave a fleet running, whatever failed
            subprocess.run([str(LOCKGATE), "down", "canary"], cwd=repo, capture_output=True)


if __name__ == "__main__":
    main()
