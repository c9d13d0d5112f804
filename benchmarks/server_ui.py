"""Server time of the web UI's pages with 10,000 runs in the store (the target: under 300 ms
each). The store is filled directly: 10,000 runs of three workflows on five branches, each with
three jobs (lint -> test -> build), two steps per job, 20 log lines per job, an annotation on
each failure, and 5 test results per run. Every page is fetched 15 times by a logged-in client
on a kept-alive connection; the median and the slowest are reported, with GET /healthz (the
HTTP round trip alone) in the same run as the baseline.

Usage: python benchmarks/server_ui.py
"""

from __future__ import annotations

import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import api_token, serving
from sqlalchemy import insert

from lockgate.store import Store, tables

RUNS, TIMES, TARGET = 10_000, 15, 0.300
WORKFLOWS = ["CI", "Release", "Nightly"]
BRANCHES = ["main", "dev", "feature/login", "feature/search", "fix/crash"]
JOBS = [("lint", []), ("test", ["lint"]), ("build", ["test"])]


def fill(store: Store) -> None:
    rng = random.Random(7)
    now = time.time()
    runs: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    job_row = step_row = 0
    for run_id in range(1, RUNS + 1):
        started = now - (RUNS - run_id) * 120
        failed = rng.random() < 0.15
        runs.append({
            "id": run_id, "workflow": rng.choice(WORKFLOWS), "workflow_file": "ci.yml",
            "event": rng.choice(["push", "pull_request"]), "sha": f"{run_id:040x}",
            "ref": "refs/heads/main", "branch": rng.choice(BRANCHES), "dirty": False,
            "actor": "bench", "repo_dir": "/nonexistent", "status": "completed",
            "conclusion": "failure" if failed else "success", "started_at": started,
            "finished_at": started + 90, "pid": None, "host": "bench",
        })  # fmt: skip
        for number, (job_id, needs) in enumerate(JOBS):
            job_row += 1
            conclusion = "failure" if failed and job_id == "test" else "success"
            jobs.append({
                "id": job_row, "run_id": run_id, "key": job_id, "job_id": job_id, "name": job_id,
                "matrix": {}, "status": "completed", "conclusion": conclusion,
                "started_at": started + number * 30, "finished_at": started + number * 30 + 25,
                "needs": needs, "summary": "## Results\n\n| a | b |\n|---|---|\n| 1 | 2 |",
            })  # fmt: skip
            for step in (1, 2):
                step_row += 1
                steps.append({
                    "id": step_row, "job_row": job_row, "number": step, "name": f"step {step}",
                    "status": "completed", "outcome": conclusion, "conclusion": conclusion,
                    "started_at": started, "finished_at": started + 10,
                })  # fmt: skip
                for n in range(10):
                    lines.append({"job_row": job_row, "step": step, "ts": started + n,
                                  "line": f"\x1b[32mline {n}\x1b[0m of {job_id}"})  # fmt: skip
            if conclusion == "failure":
                notes.append({"job_row": job_row, "step": 2, "level": "error",
                              "message": "assertion failed", "file": "tests/test_app.py",
                              "line": 12})  # fmt: skip
        test_row = job_row - 1  # the run's test job
        for test in range(5):
            results.append({
                "run_id": run_id, "job_row": test_row, "job_id": "test", "tree": f"{run_id:040x}",
                "test": f"tests::test_{test}", "file": "tests/test_app.py",
                "outcome": "failed" if failed and test == 0 else "passed",
                "duration": 0.1 + test * 0.05, "retries": 0, "quarantined": False,
                "message": None, "at": started,
            })  # fmt: skip
    with store.engine.begin() as conn:
        for table, rows in ((tables.runs, runs), (tables.jobs, jobs), (tables.steps, steps),
                            (tables.log_lines, lines), (tables.annotations, notes),
                            (tables.test_results, results)):  # fmt: skip
            for start in range(0, len(rows), 20_000):
                conn.execute(insert(table), rows[start : start + 20_000])


def timed(client: httpx.Client, path: str) -> tuple[float, float]:
    spent = []
    for _ in range(TIMES):
        sent = time.perf_counter()
        answer = client.get(path)
        spent.append(time.perf_counter() - sent)
        if answer.status_code != 200:
            raise SystemExit(f"GET {path}: {answer.status_code} {answer.text[:200]}")
    return statistics.median(spent), max(spent)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lockgate-ui-") as tmp:
        home = Path(tmp) / "home"
        url = f"sqlite:///{home / 'ui.db'}"
        began = time.perf_counter()
        fill(Store(url))
        print(f"stored {RUNS} runs in {time.perf_counter() - began:.1f}s")
        token = api_token(home, "bench", "viewer", "--db", url)
        with serving(home, 0, "--db", url, env={}) as base, httpx.Client(base_url=base) as client:
            page = client.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None
            client.post("/login", data={"token": token, "csrf": csrf.group(1)})
            pages = ["/runs", "/runs?outcome=failure", "/runs?workflow=CI&branch=dev",
                     f"/runs?before={RUNS // 2}", "/runs/table", f"/runs/{RUNS}", "/runs/1",
                     f"/runs/{RUNS}/graph", "/environments", "/insights",
                     "/api/v1/runs?limit=50", f"/api/v1/runs/{RUNS}"]  # fmt: skip
            client.get("/insights")  # the first look starts the figures' snapshot
            deadline = time.monotonic() + 60  # ...which is taken in the background
            while "As of" not in client.get("/insights").text:
                if time.monotonic() > deadline:
                    raise SystemExit("the insights snapshot was never taken")
                time.sleep(0.5)
            floor, _ = timed(client, "/healthz")
            print(f"GET /healthz (the baseline): {floor * 1000:.1f} ms")
            worst = 0.0
            for path in pages:
                median, slowest = timed(client, path)
                worst = max(worst, median)
                print(f"{path:34} median {median * 1000:6.1f} ms, slowest {slowest * 1000:6.1f} ms,"
                      f" ratio {median / floor:5.1f}")  # fmt: skip
    verdict = "under" if worst < TARGET else "OVER"
    print(f"slowest page median {worst * 1000:.0f} ms: {verdict} the {TARGET * 1000:.0f} ms target")


if __name__ == "__main__":
    main()
