"""Jobs on workers of other machines (here: processes with homes of their own), through a real
Redis and a real `lockgate serve --broker`:

1. a 24-leg matrix of sleep-bound jobs (`sleep 5`) on 1 worker and on 3 (4 jobs at once each):
   the wall times and their ratio (target: near 3);
2. queue-to-start latency (job sent to the broker -> claimed by a worker), p50 and p95, of
   the jobs that found a free slot (the first 12 of the 3-worker trial: 3 workers x 4);
3. a worker killed with -9 two seconds into a 4-second job: the time from the kill to the job
   finished on another worker (with --lost-after 5);
4. 1,000 queued jobs (4 jobs of 250 legs, each `true`) drained by 3 workers: jobs per second.

Usage: python benchmarks/workers.py [--jobs 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from common import IN_PROCESS, LOCKGATE, api_token, committed_repo, serving

from lockgate.common.ports import free_port

MATRIX = """on: push
jobs:
  sleepy:
    runs-on: ubuntu-latest
    strategy:
      matrix: {n: [%s]}
    steps:
      - run: sleep 5
"""
SLOW = """on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 4
"""
MANY = """on: push
jobs:
%s"""
LEG = """  part%d:
    runs-on: ubuntu-latest
    strategy:
      matrix: {n: [%s]}
    steps:
      - run: "true"
"""


@contextmanager
def redis(root: Path) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    (root / "redis").mkdir()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "yes", "--dir", str(root / "redis")],
                               stdout=subprocess.DEVNULL)  # fmt: skip
    wait(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                                text=True).stdout.strip() == "PONG", 20)  # fmt: skip
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait()


def wait(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {seconds} s")
        time.sleep(0.05)


Processes = list[subprocess.Popen[bytes]]


def start_workers(root: Path, home: Path, url: str, broker: str, count: int) -> Processes:
    started = []
    for n in range(count):
        token = root / f"w{n}.token"
        token.write_text(api_token(home, f"w{n}-{time.monotonic_ns()}", "worker"))
        started.append(subprocess.Popen(
            [str(LOCKGATE), "worker", "--server", url, "--token-file", str(token), "--broker",
             broker, "--concurrency", "4", "--home", str(root / f"worker-{n}")],
            env=IN_PROCESS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))  # fmt: skip
    return started


def online(url: str, token: str, count: int) -> bool:
    shown = httpx.get(f"{url}/api/v1/workers", headers={"authorization": f"Bearer {token}"}).json()
    return sum(w["state"] == "idle" for w in shown) >= count


def run_done(url: str, token: str) -> dict | None:  # type: ignore[type-arg]
    runs = httpx.get(f"{url}/api/v1/runs", headers={"authorization": f"Bearer {token}"}).json()
    return runs[0] if runs and runs[0]["status"] == "completed" else None


def assignments(home: Path) -> list[tuple[float, float | None, float | None, str | None]]:
    with sqlite3.connect(home / ".lockgate" / "lockgate.db") as db:
        return db.execute("select created_at, claimed_at, finished_at, worker "
                          "from job_assignments").fetchall()  # fmt: skip


@contextmanager
def setup(
    root: Path, broker: str, workers: int, *extra: str
) -> Iterator[tuple[Path, str, str, Processes]]:
    home = root / "home"
    home.mkdir(mode=0o700)
    token = api_token(home, "bench", "admin")
    with serving(home, 2, "--broker", broker, *extra, env={}) as url:
        started = start_workers(root, home, url, broker, workers)
        try:
            wait(lambda: online(url, token, workers), 60)
            yield home, url, token, started
        finally:
            for process in started:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def push(root: Path, workflow: str, home: Path, url: str) -> float:
    source = committed_repo(root / "src", {".github/workflows/ci.yml": workflow})
    bare = root / "app.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
    subprocess.run([str(LOCKGATE), "hook", "install", str(bare), "--server", url,
                    "--token-file", str(home / "hook-token")], env=IN_PROCESS, check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run(["git", "-C", str(source), "remote", "add", "origin", str(bare)], check=True)
    subprocess.run(["git", "-C", str(source), "-c", "user.name=b", "-c", "user.email=b@e",
                    "commit", "-q", "--allow-empty", "-m", "go"], check=True)  # fmt: skip
    started = time.monotonic()
    subprocess.run(["git", "-C", str(source), "push", "-q", "origin", "main"], check=True,
                   capture_output=True)  # fmt: skip
    return started


def matrix(broker_root: Path, broker: str, workers: int) -> tuple[float, list[float]]:
    root = broker_root / f"matrix-{workers}"
    root.mkdir()
    workflow = MATRIX % ", ".join(str(n) for n in range(24))
    with setup(root, broker, workers) as (home, url, token, _):
        started = push(root, workflow, home, url)
        wait(lambda: run_done(url, token) is not None, 300)
        took = time.monotonic() - started
        run = run_done(url, token)
        assert run is not None and run["conclusion"] == "success", run
        rows = sorted(assignments(home))  # in the order they were sent
        latencies = [claimed - created for created, claimed, _, _ in rows[: 4 * workers] if claimed]
    return took, latencies


def killed(broker_root: Path, broker: str) -> float:
    root = broker_root / "killed"
    root.mkdir()
    with setup(root, broker, 3, "--lost-after", "5") as (home, url, token, started):
        push(root, SLOW, home, url)
        wait(lambda: any(w for _, claimed, _, w in assignments(home) if claimed), 60)
        time.sleep(2)  # two seconds into the job
        victim = next(w for _, _, _, w in assignments(home) if w)
        shown = httpx.get(f"{url}/api/v1/workers", headers={"authorization": f"Bearer {token}"})
        names = [w["name"] for w in sorted(shown.json(), key=lambda w: w["started_at"])]
        os.killpg(started[names.index(victim)].pid, signal.SIGKILL)
        at = time.monotonic()
        wait(lambda: run_done(url, token) is not None, 120)
        run = run_done(url, token)
        assert run is not None and run["conclusion"] == "success", run
        return time.monotonic() - at


def drained(broker_root: Path, broker: str, jobs: int) -> tuple[float, int]:
    root = broker_root / "drain"
    root.mkdir()
    parts, per = 4, jobs // 4
    workflow = MANY % "".join(LEG % (p, ", ".join(map(str, range(per)))) for p in range(parts))
    with setup(root, broker, 3) as (home, url, token, _):
        push(root, workflow, home, url)
        wait(lambda: run_done(url, token) is not None, 3600)
        run = run_done(url, token)
        assert run is not None and run["conclusion"] == "success", run
        rows = assignments(home)
        first = min(created for created, _, _, _ in rows)
        last = max(finished or 0 for _, _, finished, _ in rows)
    return last - first, len(rows)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        with redis(root) as broker:
            one, _ = matrix(root, broker, 1)
            three, latencies = matrix(root, broker, 3)
            print(
                f"24-job matrix (sleep 5, 4 at once per worker): 1 worker {one:.1f} s, "
                f"3 workers {three:.1f} s, ratio {one / three:.2f} (target near 3)"
            )
            print(
                f"queue-to-start latency of the {len(latencies)} jobs that found a free slot: "
                f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 "
                f"{percentile(latencies, 0.95) * 1000:.0f} ms"
            )
            print(
                f"worker killed -9 mid-job: finished on another worker "
                f"{killed(root, broker):.1f} s after the kill (--lost-after 5)"
            )
            took, count = drained(root, broker, args.jobs)
            print(
                f"{count} queued jobs drained by 3 workers (4 at once each) in {took:.1f} s: "
                f"{count / took:.1f} jobs/s"
            )


if __name__ == "__main__":
    main()
