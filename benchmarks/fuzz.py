"""The fuzzing properties of tests/unit/test_fuzz.py at scale: 2,000 generated cases for each of its
five properties (workflows, YAML text, expressions, environment files, archives), 10,000 in
all. Reports cases run and failures; a failure prints hypothesis's smallest example.

Usage: python benchmarks/fuzz.py [--per-property 2000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common import ROOT


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-property", type=int, default=2000)
    args = parser.parse_args()
    env = {**os.environ, "LOCKGATE_FUZZ_EXAMPLES": str(args.per_property)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_fuzz.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    print(done.stdout[-3000:])
    properties = 5
    print(
        f"{properties * args.per_property} generated cases ({args.per_property} per property) "
        f"in {elapsed:.0f}s: {'no failures' if done.returncode == 0 else 'FAILURES above'}"
    )
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
