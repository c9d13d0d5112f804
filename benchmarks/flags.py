"""Feature flags:

- in-process evaluation per call (p50, p99) of a 50% rollout with a constraint and three
  variants, for 20,000 users, against Unleash's own Python SDK (UnleashClient from PyPI, in a
  venv of its own, evaluating the same definitions from a bootstrap) in the same run: the ratio;
- `lockgate serve` with 10,000 flags: its memory against the same server with none, and the
  time of an SDK's full fetch of them;
- a change reaching 100 connected FlagClients (lockgate's SDK, listening to the change
  stream): from the change's commit to the last client answering the new way, against the
  1 s target (and the server's 0.1 s poll of the revision, the floor).

Usage: python benchmarks/flags.py [--users 20000] [--flags 10000] [--clients 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import api_token, rss_kib, serving

from lockgate.flags.client import FlagClient
from lockgate.flags.context import Context
from lockgate.flags.definitions import ClientFeatures
from lockgate.flags.evaluate import Evaluator
from lockgate.flags.service import FlagService
from lockgate.store import Store
from lockgate.store.flags import FlagRecords

STATE = {
    "version": 2,
    "features": [
        {
            "name": "new-checkout",
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "50", "stickiness": "default", "groupId": "nc"},
                    "constraints": [
                        {"contextName": "country", "operator": "IN", "values": ["NO", "SE", "DK"]}
                    ],
                }
            ],
            "variants": [
                {"name": n, "weight": 333, "payload": {"type": "string", "value": n}}
                for n in ("a", "b", "c")
            ],
        }
    ],
}

UNLEASH_TIMING = """
import json, sys, time
from UnleashClient import UnleashClient
from UnleashClient.cache import FileCache
state, users, cache_dir = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cache = FileCache("bench", directory=cache_dir)
cache.bootstrap_from_dict(state)
client = UnleashClient(url="http://127.0.0.1:9", app_name="bench", cache=cache,
                       disable_metrics=True, disable_registration=True)
client.initialize_client(fetch_toggles=False)
contexts = [{"userId": f"user-{n}", "properties": {"country": "NO"}} for n in range(users)]
times, on = [], 0
for context in contexts:
    start = time.perf_counter_ns()
    on += client.is_enabled("new-checkout", context)
    times.append(time.perf_counter_ns() - start)
print(json.dumps({"times": times, "on": on}))
client.destroy()
"""


def lockgate_timing(users: int) -> tuple[list[int], int]:
    evaluator = Evaluator(ClientFeatures.model_validate(STATE))
    contexts = [Context(user_id=f"user-{n}", properties={"country": "NO"}) for n in range(users)]
    times, on = [], 0
    for context in contexts:
        start = time.perf_counter_ns()
        on += evaluator.enabled("new-checkout", context)
        times.append(time.perf_counter_ns() - start)
    return times, on


def unleash_timing(scratch: Path, users: int) -> tuple[list[int], int]:
    venv = scratch / "sdk"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "UnleashClient>=6,<7"],
                   check=True)  # fmt: skip
    (scratch / "cache").mkdir()
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", UNLEASH_TIMING, json.dumps(STATE), str(users),
         str(scratch / "cache")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["times"], found["on"]


def percentiles(times: list[int]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100)
    return cuts[49] / 1000, cuts[98] / 1000  # microseconds


def server_memory(scratch: Path, count: int) -> dict[str, float]:
    found = {}
    for flags in (0, count):
        home = scratch / f"home-{flags}"
        db = f"sqlite:///{scratch / f'flags-{flags}.db'}"
        service = FlagService(FlagRecords(Store(db)))
        for n in range(flags):
            service.create(f"flag-{n}", "release", "", "bench")
            service.rollout(f"flag-{n}", "production", n % 101, "bench")
        token = api_token(home, "bench", "viewer", "--db", db)
        with serving(home, 0, "--db", db, env={}) as url:
            key = {"Authorization": f"production.{token}"}
            start = time.perf_counter()
            fetched = httpx.get(f"{url}/api/client/features", headers=key, timeout=60)
            took = time.perf_counter() - start
            assert len(fetched.json()["features"]) == flags
            for _ in range(3):  # steady state: what it holds after serving a few fetches
                httpx.get(f"{url}/api/client/features", headers=key, timeout=60)
            found[f"rss_kib_{flags}"] = rss_kib(url)
            found[f"fetch_s_{flags}"] = took
            found[f"body_bytes_{flags}"] = len(fetched.content)
    return found


def propagation(scratch: Path, clients: int) -> list[float]:
    """Seconds from each of five changes to the last of `clients` clients seeing it."""
    home, db = scratch / "home-stream", f"sqlite:///{scratch / 'stream.db'}"
    service = FlagService(FlagRecords(Store(db)))
    service.create("switch", "kill-switch", "", "bench")
    token = api_token(home, "bench", "viewer", "--db", db)
    took = []
    with serving(home, 0, "--db", db, env={}) as url:
        connected = [FlagClient(url, f"production.{token}", refresh=3600) for _ in range(clients)]
        try:
            assert all(c.wait_until_fetched(30) for c in connected)
            time.sleep(1)  # every stream connected
            for change in range(5):
                wanted = change % 2 == 0
                start = time.perf_counter()
                service.switch("switch", "production", wanted, "bench")
                while any(c.enabled("switch") != wanted for c in connected):
                    time.sleep(0.002)
                took.append(time.perf_counter() - start)
        finally:
            for client in connected:
                client.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--flags", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        ours, ours_on = lockgate_timing(args.users)
        theirs, theirs_on = unleash_timing(Path(scratch), args.users)
        assert ours_on == theirs_on, (ours_on, theirs_on)  # the same users, the same answers
        (ours_50, ours_99), (theirs_50, theirs_99) = percentiles(ours), percentiles(theirs)
        memory = server_memory(Path(scratch), args.flags)
        spread = propagation(Path(scratch), args.clients)
    print(json.dumps({
        "users": args.users, "on": ours_on,
        "lockgate_us_p50": round(ours_50, 2), "lockgate_us_p99": round(ours_99, 2),
        "unleash_client_us_p50": round(theirs_50, 2), "unleash_client_us_p99": round(theirs_99, 2),
        "p50_ratio_lockgate_to_unleash": round(ours_50 / theirs_50, 2),
        "flags": args.flags, **{k: round(v, 3) for k, v in memory.items()},
        "memory_ratio": round(memory[f"rss_kib_{args.flags}"] / memory["rss_kib_0"], 2),
        "clients": args.clients,
        "change_to_all_clients_s": [round(t, 3) for t in spread],
        "median_ratio_to_1s_target": round(statistics.median(spread), 2),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
