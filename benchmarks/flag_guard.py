"""A guarded flag rollout's reaction: from a regression starting (every request of the users
the flag is on for fails) to the flag being off in the application's SDK, through a real
`lockgate serve`, an application on lockgate's SDK reporting about 1,000 requests a second,
and the guard's analysis every `--interval` seconds.

The baseline, in the same run, is the analysis interval itself: a guard that measures every
I seconds cannot react faster than one interval after the data exist, so the ratio says what
the rest (reporting, judging, switching, streaming the change) adds.

Usage: python benchmarks/flag_guard.py [--interval 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import api_token, serving

from lockgate.flags.client import FlagClient
from lockgate.flags.service import FlagService
from lockgate.store import Store
from lockgate.store.flagrollouts import RolloutRecords
from lockgate.store.flags import FlagRecords

USERS = 2000


class App(threading.Thread):
    def __init__(self, flags: FlagClient, flag: str) -> None:
        super().__init__(daemon=True)
        self.flags, self.flag, self.failing, self.done = flags, flag, False, threading.Event()

    def run(self) -> None:
        user = 0
        while not self.done.wait(0.01):
            for _ in range(10):
                user = (user + 1) % USERS
                context = {"userId": f"user-{user}"}
                on = self.flags.enabled(self.flag, context)
                self.flags.observe(self.flag, context, failed=on and self.failing, latency=0.01)


def one_run(url: str, key: str, token: str, db: str, n: int, interval: float) -> float:
    flag = f"checkout-{n}"
    FlagService(FlagRecords(Store(db))).create(flag, "release", "", "bench")
    records = RolloutRecords(Store(db))
    flags = FlagClient(url, key, refresh=3600, report=0.25)
    app = App(flags, flag)
    try:
        assert flags.wait_until_fetched(30)
        started = httpx.post(
            f"{url}/api/v1/flags/{flag}/environments/production/guarded",
            headers={"Authorization": f"Bearer {token}"},
            json={"steps": [10, 50, 100], "bake": 3600, "window": 60,
                  "analysis": {"interval": interval, "min-samples": 50,
                               "metrics": [{"name": "error-rate", "tolerance": 0.02}]}},
        )  # fmt: skip
        assert started.status_code == 201, started.text
        rollout_id = started.json()["id"]
        app.start()
        while len([a for a in records.analyses(rollout_id) if a.verdict == "pass"]) < 2:
            time.sleep(0.05)  # healthy, judged so, twice
        treated = next(f"user-{u}" for u in range(USERS)
                       if flags.enabled(flag, {"userId": f"user-{u}"}))  # fmt: skip
        began = time.perf_counter()
        app.failing = True
        while flags.enabled(flag, {"userId": treated}):
            time.sleep(0.005)
        return time.perf_counter() - began
    finally:
        app.done.set()
        flags.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        home, db = Path(scratch) / "home", f"sqlite:///{Path(scratch) / 'flags.db'}"
        FlagRecords(Store(db))  # the schema, before the tokens
        token = api_token(home, "bench", "operator", "--db", db)
        with serving(home, 0, "--db", db, env={}) as url:
            took = [one_run(url, f"production.{token}", token, db, n, args.interval)
                    for n in range(args.runs)]  # fmt: skip
    median = statistics.median(took)
    print(json.dumps({
        "analysis_interval_s": args.interval,
        "regression_to_flag_off_s": [round(t, 2) for t in took],
        "median_s": round(median, 2),
        "median_ratio_to_interval": round(median / args.interval, 2),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
