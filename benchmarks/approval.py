"""From a reviewer's approval to the held deployment job running: a job naming a protected
environment (one reviewer) waits; the time from the approval's POST (what the run page's
button sends) until the job that goes on is running, median of 5. The baseline, in the same
run: a manual run's POST until its first job is running, median of 5 (the queue, a worker,
fetching the commit and starting a run are common to both).

Usage: python benchmarks/approval.py
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import api_token, committed_repo, serving

TIMES = 5
WORKFLOW = """on: workflow_dispatch
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: sleep 1
"""


def newest(client: httpx.Client) -> dict[str, Any]:
    runs = client.get("/api/v1/runs?limit=1").json()
    return client.get(f"/api/v1/runs/{runs[0]['id']}").json() if runs else {}


def running(client: httpx.Client, after: int, job_id: str) -> bool:
    """The newest run is newer than run `after` and its job `job_id` runs (or ran) there."""
    run = newest(client)
    if not run or run["id"] <= after:
        return False
    job = next((j for j in run["jobs"] if j["job_id"] == job_id), None)
    return job is not None and job["status"] in ("running", "completed") and not job["cached_from"]


def until(check: Any) -> None:
    while not check():
        time.sleep(0.01)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lockgate-approval-") as tmp:
        root = Path(tmp)
        source = committed_repo(root / "src", {".github/workflows/ci.yml": WORKFLOW})
        bare = root / "app.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
        home = root / "home"
        admin = api_token(home, "admin", "admin")
        carol, alice = api_token(home, "carol", "operator"), api_token(home, "alice", "operator")
        with serving(home, 1, env={}) as url:
            admin_client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"})
            admin_client.post("/api/v1/repositories", json={"source": str(bare)})
            as_carol = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {carol}"})
            as_alice = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {alice}"})
            manual = {"repository": str(bare), "ref": "refs/heads/main"}
            plain, approved = [], []
            for _ in range(TIMES + 1):  # the first of each is a warm-up
                admin_client.delete("/api/v1/protections/production")
                before = newest(as_carol).get("id", 0)
                began = time.perf_counter()
                as_carol.post("/api/v1/runs", json=manual)
                until(lambda: running(as_carol, before, "build"))  # noqa: B023
                plain.append(time.perf_counter() - began)
                until(lambda: newest(as_carol)["status"] == "completed")
                admin_client.put("/api/v1/protections/production", json={"reviewers": ["alice"]})
                as_carol.post("/api/v1/runs", json=manual)
                until(lambda: newest(as_carol).get("status") == "waiting")
                held = newest(as_carol)["id"]
                reviews = f"/api/v1/runs/{held}/reviews"  # opened once the run's process ended
                until(lambda: as_alice.get(reviews).json())  # noqa: B023
                review = as_alice.get(reviews).json()[0]
                began = time.perf_counter()
                as_alice.post(f"/api/v1/runs/{held}/reviews/{review['id']}", json={"approve": True})
                until(lambda: running(as_alice, held, "deploy"))  # noqa: B023
                approved.append(time.perf_counter() - began)
                until(lambda: newest(as_carol)["status"] == "completed")
    base, took = statistics.median(plain[1:]), statistics.median(approved[1:])
    print(f"manual run POST -> its first job running (baseline): median {base:.2f}s")
    print(
        f"approval POST -> the held deploy job running: median {took:.2f}s; ratio {took / base:.2f}"
    )


if __name__ == "__main__":
    main()
