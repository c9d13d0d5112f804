"""`concurrency:` groups: one in progress, one pending, cancel-in-progress; within a run and
across lockgate processes sharing a repository."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ..conftest import LOCKGATE, jobs_by_key, make_repo, run_json

pytestmark = pytest.mark.integration


def _intervals(log: Path) -> dict[str, tuple[float, float]]:
    spans: dict[str, list[float]] = {}
    for line in log.read_text().split():
        name, stamp = line.split("=")
        spans.setdefault(name, []).append(float(stamp))
    return {name: (min(s), max(s)) for name, s in spans.items()}


def _stamp(log: Path, name: str) -> str:
    return f'echo "{name}=$(date +%s.%N)" >> {log}'


def test_jobs_sharing_a_group_never_overlap(tmp_path: Path) -> None:
    log = tmp_path / "spans"

    def steps(name: str) -> str:
        return f"""
    steps:
      - run: |
          {_stamp(log, name)}
          sleep 0.4
          {_stamp(log, name)}"""

    wf = f"""
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    concurrency: deploy-${{{{ github.ref }}}}{steps("a")}
  b:
    runs-on: ubuntu-latest
    concurrency:
      group: deploy-${{{{ github.ref }}}}{steps("b")}
  c:
    runs-on: ubuntu-latest{steps("c")}
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": wf})
    code, report = run_json(repo, "--jobs", "3")
    assert code == 0, report
    spans = _intervals(log)
    (a0, a1), (b0, b1) = spans["a"], spans["b"]
    assert a1 <= b0 or b1 <= a0, spans
    c0, c1 = spans["c"]  # outside the group: runs alongside
    assert c0 < max(a1, b1) and min(a0, b0) < c1, spans


def test_a_newer_pending_job_replaces_the_older_one(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3]
    concurrency: the-one-group
    steps:
      - run: sleep 0.3
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": wf})
    code, report = run_json(repo, "--jobs", "3")
    jobs = jobs_by_key(report)
    assert [jobs[f"deploy ({n})"]["conclusion"] for n in (1, 2, 3)] == [
        "success",
        "cancelled",
        "success",
    ]
    assert "newer job" in jobs["deploy (2)"]["message"]
    assert code == 1


WORKFLOW = """
on: push
concurrency:
  group: ci-${{ github.ref }}
  cancel-in-progress: ${{ vars.CANCEL == 'yes' }}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "$NAME=$(date +%s.%N)" >> "$LOG"
          touch "$LOG.$NAME.started"
          sleep "$SLEEP"
          echo "$NAME=$(date +%s.%N)" >> "$LOG"
      - if: cancelled()
        run: echo "$NAME-cleanup=$(date +%s.%N)" >> "$LOG"
"""


def _start(repo: Path, log: Path, name: str, sleep: float, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(LOCKGATE),
            "run",
            "--output",
            "json",
            "--env",
            f"LOG={log}",
            "--env",
            f"NAME={name}",
            "--env",
            f"SLEEP={sleep}",
            *extra,
        ],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, process: subprocess.Popen[str], deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def test_runs_in_one_group_queue_across_processes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": WORKFLOW})
    log = tmp_path / "spans"
    first = _start(repo, log, "first", 1.5)
    _wait_for(Path(f"{log}.first.started"), first)
    second = _start(repo, log, "second", 0)
    _out1, err1 = first.communicate(timeout=60)
    _out2, err2 = second.communicate(timeout=60)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "waiting for concurrency group 'ci-refs/heads/main'" in err2
    spans = _intervals(log)
    assert spans["first"][1] <= spans["second"][0], spans


def test_cancel_in_progress_stops_the_older_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": WORKFLOW})
    log = tmp_path / "spans"
    older = _start(repo, log, "older", 120)
    _wait_for(Path(f"{log}.older.started"), older)
    started = time.monotonic()
    newer = _start(repo, log, "newer", 0, "--var", "CANCEL=yes")
    _out_new, err_new = newer.communicate(timeout=60)
    out_old, _ = older.communicate(timeout=60)
    assert time.monotonic() - started < 30
    assert newer.returncode == 0, err_new
    assert older.returncode == 1  # cancelled, not interrupted by the user (130)
    job = jobs_by_key(json.loads(out_old))["build"]
    assert job["conclusion"] == "cancelled"
    assert [s["conclusion"] for s in job["steps"]] == ["cancelled", "success"]
    spans = _intervals(log)
    assert "older-cleanup" in spans  # `if: cancelled()` steps still run
    assert spans["older-cleanup"][0] <= spans["newer"][0], spans


def test_a_killed_holder_does_not_block_the_group(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": WORKFLOW})
    log = tmp_path / "spans"
    crashed = _start(repo, log, "crashed", 120)
    _wait_for(Path(f"{log}.crashed.started"), crashed)
    crashed.send_signal(signal.SIGKILL)
    crashed.communicate(timeout=30)
    code, report = run_json(repo, "--env", f"LOG={log}", "--env", "NAME=next", "--env", "SLEEP=0")
    assert code == 0, report
