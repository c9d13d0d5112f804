"""Insights over a generated history: 100,000 test results and 1,000 deployments in a SQLite
store, each insight timed (reading its rows from the store included) against reading the same
rows alone, in the same run; and the flaky detector's precision and recall where the truth is
known.

The history: 200 runs of one job, 500 tests each (100,000 results). 40 tests are truly flaky
(each fails 15% of the time at random); 30 tests are broken by a commit and fixed by a later
one (they fail on every run of the trees in between); one run in 100 is an outage where
nearly every test fails. Trees change every 3 runs, and a failed job is run again on its tree
(as a red build is), so a flaky test gets its chance to show both outcomes on one tree.

Usage: python benchmarks/insights.py [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from common import median_seconds
from sqlalchemy import insert

from lockgate.insights.dora import Change, dora
from lockgate.insights.gates import ledger
from lockgate.insights.slow import over_budget, slow_jobs, slow_tests
from lockgate.store import Store
from lockgate.store import tables as t
from lockgate.store.deployments import DeploymentRecords, RolloutStatus
from lockgate.store.testresults import TestRecords, run_timings
from lockgate.testresults.flaky import flaky_tests, infrastructure_failures

RUNS, TESTS, FLAKY, BROKEN = 200, 500, 40, 30
DEPLOYMENTS = 1000


def generate(store: Store, rng: random.Random) -> set[str]:
    """The history; returns the tests that are truly flaky."""
    names = [f"tests.test_mod{i // 10}::test_{i}" for i in range(TESTS)]
    flaky = set(rng.sample(names, FLAKY))
    steady = [n for n in names if n not in flaky]
    broken = {}  # test -> the trees it fails on: [from, to)
    for name in rng.sample(steady, BROKEN):
        start = rng.randrange(RUNS // 3 - 12)
        broken[name] = (start, start + rng.randint(2, 10))
    runs, jobs, results = [], [], []
    now = time.time() - 20 * 86400
    run_id, tree_index, again = 0, 0, False
    while run_id < RUNS:
        run_id += 1
        if not again and run_id % 3 == 0:
            tree_index += 1
        tree = f"tree{tree_index:06d}"
        started = now + run_id * 300
        outage = rng.random() < 0.01
        failed_any = False
        batch = []
        for name in names:
            lo, hi = broken.get(name, (-1, -1))
            fails = (
                (outage and rng.random() < 0.9)
                or (name in flaky and rng.random() < 0.15)
                or lo <= tree_index < hi
            )
            failed_any |= fails
            batch.append({
                "run_id": run_id, "job_row": run_id, "job_id": "unit", "tree": tree,
                "test": name, "file": None, "outcome": "failed" if fails else "passed",
                "duration": rng.lognormvariate(-3, 0.5), "retries": 0, "quarantined": False,
                "message": None, "at": started,
            })  # fmt: skip
        results += batch
        runs.append({"id": run_id, "workflow": "ci", "workflow_file": ".github/workflows/ci.yml",
                     "event": "push", "sha": tree, "ref": "refs/heads/main", "branch": "main",
                     "dirty": False, "actor": "bench", "repo_dir": "/", "status": "completed",
                     "conclusion": "failure" if failed_any else "success", "started_at": started,
                     "finished_at": started + 240})  # fmt: skip
        jobs.append({"id": run_id, "run_id": run_id, "key": "unit", "job_id": "unit",
                     "name": "unit", "status": "completed",
                     "conclusion": "failure" if failed_any else "success",
                     "started_at": started, "finished_at": started + 200,
                     "cache_key": tree})  # fmt: skip
        again = failed_any and not again  # a red build is run once more on its tree
    deployments = []
    for number in range(DEPLOYMENTS):
        started = now + number * 1500
        status = rng.choices(
            [RolloutStatus.SUCCEEDED, RolloutStatus.ROLLED_BACK, RolloutStatus.FAILED],
            [0.9, 0.07, 0.03],
        )[0]
        deployments.append({"app": "web", "environment": "production", "digest": f"{number:064x}",
                            "strategy": "rolling", "status": status.value, "started_at": started,
                            "finished_at": started + 120, "triggered_by": "bench",
                            "kind": "deploy"})  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(t.runs), runs)
        conn.execute(insert(t.jobs), jobs)
        for start in range(0, len(results), 10_000):
            conn.execute(insert(t.test_results), results[start : start + 10_000])
        conn.execute(insert(t.deployments), deployments)
    return flaky


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lockgate-insights-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'lockgate.db'}")
        truth = generate(store, random.Random(args.seed))
        tests, deployments = TestRecords(store), DeploymentRecords(store)
        since = 0.0
        read_results = median_seconds(lambda: tests.since(since))
        read_runs = median_seconds(lambda: run_timings(store, since))
        read_deployments = median_seconds(lambda: deployments.since(since))
        rows = tests.since(since)
        runs = run_timings(store, since)
        print(f"{len(rows)} test results, {len(runs)} runs, "
              f"{len(deployments.since(since))} deployments")  # fmt: skip
        insights = {
            "flaky": (lambda: flaky_tests(tests.since(since)), read_results),
            "slow": (
                lambda: (
                    slow_tests(tests.since(since)),
                    slow_jobs(run_timings(store, since)),
                    over_budget(run_timings(store, since), rows, 600),
                ),
                read_results + 2 * read_runs,
            ),
            "gates": (
                lambda: ledger(
                    run_timings(store, since),
                    infrastructure_failures(tests.since(since)),
                    {"unit": None},
                    30,
                ),
                read_runs + read_results,
            ),
            "dora": (
                lambda: dora(deployments.since(since), [], {0: Change(())}, 30),
                read_deployments,
            ),
        }
        for name, (work, floor) in insights.items():
            spent = median_seconds(work)
            print(f"{name:6} {spent:.3f}s (reading its rows alone {floor:.3f}s; ratio "
                  f"{spent / floor:.2f})")  # fmt: skip
        found = {f.test for f in flaky_tests(rows)}
        hits = len(found & truth)
        precision = hits / len(found) if found else 1.0
        print(f"flaky detector: {len(found)} found, {len(truth)} truly flaky; precision "
              f"{precision:.3f}, recall {hits / len(truth):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
