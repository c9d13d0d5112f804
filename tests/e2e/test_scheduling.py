"""Fastest-first ordering from history, and --fail-fast against GitHub's default."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ..conftest import jobs_by_key, lockgate, make_repo, run_json

pytestmark = pytest.mark.integration

THREE = """
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: echo "slow $(date +%s.%N)" >> "$ORDER"; sleep 0.3
  steady:
    runs-on: ubuntu-latest
    steps:
      - run: echo "steady $(date +%s.%N)" >> "$ORDER"
  brittle:
    runs-on: ubuntu-latest
    steps:
      - run: echo "brittle $(date +%s.%N)" >> "$ORDER"; test ! -f "$BREAK"
"""


def _order(path: Path) -> list[str]:
    rows = [line.split() for line in path.read_text().splitlines()]
    path.unlink()
    return [name for name, _ in sorted(rows, key=lambda r: float(r[1]))]


def test_jobs_likely_to_fail_soonest_start_first(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": THREE})
    order, broken = tmp_path / "order", tmp_path / "broken"
    args = ["--jobs", "1", "--no-cache", "--env", f"ORDER={order}", "--env", f"BREAK={broken}"]
    run_json(repo, *args)
    assert _order(order) == ["slow", "steady", "brittle"]  # no history: file order
    broken.write_text("")
    code, _ = run_json(repo, *args)
    assert code == 1
    assert _order(order) == ["slow", "steady", "brittle"]
    code, _ = run_json(repo, *args)
    assert _order(order)[0] == "brittle"  # failed in 2 of 3 runs: goes first now
    listed = lockgate("run", "--list", cwd=repo)
    lines = [line for line in listed.stdout.splitlines() if "stage 1:" in line]
    assert "brittle" in lines[0] and "failed 2 of last 3" in lines[0], listed.stdout


WIDE = """
on: push
jobs:
  quick-fail:
    runs-on: ubuntu-latest
    steps:
      - run: exit 1
  long:
    runs-on: ubuntu-latest
    steps:
      - run: sleep "$LONG"
      - if: always()
        run: echo cleanup of long
  after-long:
    needs: long
    runs-on: ubuntu-latest
    steps:
      - run: echo after
  report:
    needs: [quick-fail, long]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo reporting
"""


def test_by_default_a_failure_leaves_independent_jobs_alone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": WIDE})
    code, report = run_json(repo, "--env", "LONG=1")
    jobs = jobs_by_key(report)
    assert code == 1
    assert {k: j["conclusion"] for k, j in jobs.items()} == {
        "quick-fail": "failure",
        "long": "success",
        "after-long": "success",
        "report": "success",
    }


def test_fail_fast_cancels_what_cannot_change_the_verdict(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": WIDE})
    started = time.monotonic()
    code, report = run_json(repo, "--fail-fast", "--jobs", "4", "--env", "LONG=120")
    assert time.monotonic() - started < 60
    assert code == 1
    jobs = jobs_by_key(report)
    assert {k: j["conclusion"] for k, j in jobs.items()} == {
        "quick-fail": "failure",
        "long": "cancelled",
        "after-long": "cancelled",
        "report": "success",  # guarded by always(): still runs
    }
    long_steps = [(s["name"], s["conclusion"]) for s in jobs["long"]["steps"]]
    assert long_steps[1] == ("Run echo cleanup of long", "success")
    shown = json.loads(
        lockgate("show", str(report["runs"][0]["run_id"]), "-o", "json", cwd=repo).stdout
    )
    assert shown["conclusion"] == "failure"
