"""Orchestration overhead of `lockgate run`, measured against a plain bash loop in one sitting.

1. 200 trivial steps in one job: the whole `lockgate run` process (start-up included) against
   the same 200 commands run by bash, one `bash -e script` per step as lockgate does.
   Target: under 5 ms overhead per step.
2. Fan-out/fan-in: prepare (1 s) -> 4 parallel jobs (2 s each) -> publish (1 s); the critical
   path is 4 s. Target: wall time / critical path at most 1.1.

Usage: python benchmarks/engine_overhead.py [--steps 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import IN_PROCESS, LOCKGATE, committed_repo, warm_server

WORKFLOW = ".github/workflows/bench.yml"


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def steps_benchmark(work: Path, steps: int, repeat: int) -> None:
    lines = "\n".join(f"      - run: echo step {i}" for i in range(steps))
    workflow = f"on: push\njobs:\n  many:\n    runs-on: ubuntu-latest\n    steps:\n{lines}\n"
    repo = committed_repo(work / "steps", {WORKFLOW: workflow})
    scripts = work / "scripts"
    scripts.mkdir()
    for i in range(steps):
        (scripts / f"{i}.sh").write_text(f"echo step {i}\n")
    loop = (
        f"for i in $(seq 0 {steps - 1}); do bash --noprofile --norc -eo pipefail "
        f"{scripts}/$i.sh > /dev/null; done"
    )
    baseline = [timed(["bash", "-c", loop], repo) for _ in range(repeat)]
    command = [str(LOCKGATE), "run", "--no-cache", "--output", "json"]
    b = statistics.median(baseline)
    print(f"{steps} steps, bash loop: {b:.2f}s (median of {repeat})")
    for label, env in (("with its server", None), ("in process, no server", IN_PROCESS)):
        e = statistics.median(timed(command, repo, env) for _ in range(repeat))
        per_step_ms = (e - b) / steps * 1000
        print(
            f"  lockgate run {label}: {e:.2f}s; overhead per step {per_step_ms:.2f} ms "
            f"(target < 5 ms), ratio {e / b:.2f}x"
        )


FAN = """on: push
jobs:
  prepare:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 1
  part:
    needs: prepare
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3, 4]
    steps:
      - run: sleep 2
  publish:
    needs: part
    runs-on: ubuntu-latest
    steps:
      - run: sleep 1
"""


def fan_benchmark(work: Path, repeat: int) -> None:
    repo = committed_repo(work / "fan", {WORKFLOW: FAN})
    critical = 4.0
    command = [str(LOCKGATE), "run", "--no-cache", "--jobs", "4", "--output", "json"]
    for label, env in (("with its server", None), ("in process, no server", IN_PROCESS)):
        wall = statistics.median(timed(command, repo, env) for _ in range(repeat))
        print(
            f"fan-out/fan-in (--jobs 4) {label}: wall {wall:.2f}s, critical path "
            f"{critical:.1f}s, ratio {wall / critical:.3f} (target <= 1.1)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warm_server()
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmp:
        work = Path(tmp)
        steps_benchmark(work, args.steps, args.repeat)
        fan_benchmark(work, args.repeat)


if __name__ == "__main__":
    main()
