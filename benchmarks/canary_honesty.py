"""Honest canary statistics on the example app under bounded load, in one sitting:

- a canary with 4% extra errors, and one with +100 ms latency, `--runs` each: how many are
  rolled back (and within how many analysis intervals), and how many promoted (false
  promotions);
- a canary identical to stable, `--runs`: how many are promoted, and how many rolled back (the
  false-rollback rate).

Each run deploys to a fleet of 2 stable instances (1 canary, 1 baseline) with one analysis step
at 25% canary weight at the default analysis settings (2 measurements 5 s apart; `--interval`
changes that), while 8 client threads send requests. Time to decision is from the weight change
to the verdict. `benchmarks/canary_judge.py` simulates the same at any sample size.

Usage: python benchmarks/canary_honesty.py [--runs 20] [--interval SECONDS]
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


def deploy(repo: Path, digest: str) -> dict:  # type: ignore[type-arg]
    """One canary deployment's report; a paused one is aborted, so the next starts afresh."""
    _, report = lockgate(repo, "deploy", "env.yaml", "--artifact", digest)
    if report["result"] == "paused":
        lockgate(repo, "abort", "canary")
    return report


def seconds(times: list[float]) -> str:
    if not times:
        return "none decided"
    return f"median {statistics.median(times):.1f}s, max {max(times):.1f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--interval", type=float, default=None)
    args = parser.parse_args()
    warm_server()
    from lockgate.common.ports import free_port

    with tempfile.TemporaryDirectory(prefix="lockgate-canary-bench-") as tmp:
        repo = Path(tmp)
        committed_repo(repo, {"README": "canary benchmark\n"})
        port = free_port()
        (repo / "env.yaml").write_text(
            f"app: hello\nenvironment: canary\ntarget: {{replicas: 2}}\n"
            f"router: {{port: {port}}}\nstrategy:\n  type: canary\n"
            "  steps: [{set-weight: 25}, {analysis: {}}]\n"
            + (f"  analysis: {{interval: {args.interval}}}\n" if args.interval else "")
        )
        try:
            stable = [app(repo, "stable-a"), app(repo, "stable-b")]  # identical behaviour
            cases = {
                "4% extra errors": app(repo, "errors", error_rate=0.04),
                "+100 ms latency": app(repo, "slow", delay_ms=100),
            }
            lockgate(repo, "deploy", "env.yaml", "--artifact", stable[0])
            current = 0
            with Load(port):
                for label, digest in cases.items():
                    outcomes, times, intervals = [], [], []
                    for _ in range(args.runs):
                        report = deploy(repo, digest)
                        outcomes.append(report["result"])
                        if report["result"] != "paused":
                            times.append(decision_seconds(report))
                        intervals.append(
                            sum(1 for _, t in report["events"] if t.startswith("analysis "))
                        )
                    rolled = outcomes.count("rolled_back")
                    promoted = outcomes.count("succeeded")
                    print(
                        f"canary with {label}: rolled back in {rolled} of {args.runs} runs, "
                        f"promoted (false promotion) in {promoted}, paused in "
                        f"{outcomes.count('paused')}; "
                        f"decided after at most {max(intervals)} analysis intervals; time to "
                        f"decision {seconds(times)}"
                    )
                outcomes, times = [], []
                for _ in range(args.runs):
                    current = 1 - current
                    report = deploy(repo, stable[current])
                    outcomes.append(report["result"])
                    if report["result"] in ("succeeded", "rolled_back"):
                        times.append(decision_seconds(report))
                    if report["result"] != "succeeded":  # keep stable what the fleet now runs
                        current = 1 - current
                promoted, rolled = outcomes.count("succeeded"), outcomes.count("rolled_back")
                print(
                    f"canary identical to stable: promoted in {promoted} of {args.runs} runs, "
                    f"rolled back (false rollback) in {rolled}, paused in "
                    f"{outcomes.count('paused')}; time to decision {seconds(times)}"
                )
        finally:  # never leave a fleet running, whatever failed
            subprocess.run([str(LOCKGATE), "down", "canary"], cwd=repo, capture_output=True)


if __name__ == "__main__":
    main()
