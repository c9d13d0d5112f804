"""Peak resident memory of `lockgate run` while a step prints 200 MB (2 million lines) and one
10 MB line, with the job cache off and on. Target: under 150 MB both ways.

Measured in process (LOCKGATE_DAEMON=0): ru_maxrss of the command, the largest process of the
run (a step's own python stays far smaller).

Usage: python benchmarks/memory.py [--megabytes 200]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from common import IN_PROCESS, LOCKGATE, committed_repo

WORKFLOW = """
on: push
jobs:
  loud:
    runs-on: ubuntu-latest
    steps:
      - run: head -c {size} /dev/zero | tr '\\0' x | fold -w 99
      - run: python3 -c "print('y' * (10 << 20))"
"""


def peak_of(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(peak resident MiB, seconds) of one command; run in a fresh child each time."""
    probe = (
        "import resource,subprocess,sys,time;t=time.time();"
        "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024,"
        "time.time()-t,r.returncode)"
    )
    done = subprocess.run(
        ["python3", "-c", probe, *argv], cwd=cwd, env=IN_PROCESS, capture_output=True, text=True
    )
    peak, seconds, code = done.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(argv)} failed")
    return float(peak), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    size = args.megabytes * 1_000_000
    with tempfile.TemporaryDirectory() as scratch:
        repo = committed_repo(
            Path(scratch) / "repo", {".github/workflows/loud.yml": WORKFLOW.format(size=size)}
        )
        for label, extra in (("cache off", ["--no-cache"]), ("cache on", [])):
            peak, seconds = peak_of([str(LOCKGATE), "run", *extra], repo)
            print(
                f"{label}: peak {peak:.0f} MiB resident for {args.megabytes} MB of output and a "
                f"10 MB line ({seconds:.0f}s; target < 150 MiB)"
            )


if __name__ == "__main__":
    main()
