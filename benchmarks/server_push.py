"""From `git push` to the run in the web UI: the time until the pushed commit is on the runs
page (its live table lists it from the moment it is queued) and until its first log line
arrives on the run's live stream, median of 10 pushes to a bare repository with lockgate's
hook, one worker. The baseline, in the same run: `lockgate run push` in the working copy
(without the warm server, as the server's worker runs it) until its first log line, median
of 10.

Then a push while the server is down (killed with -9): the hook spools it; from the server's
start to that push's run finished, against the server's start alone (to /healthz answering),
median of 5.

Usage: python benchmarks/server_push.py
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from common import IN_PROCESS, LOCKGATE, api_token, committed_repo, serving

PUSHES = 10
WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "first line of $GITHUB_SHA"
"""


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    done = subprocess.run(["git", "-C", str(repo), *identity, *args], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def first_line(client: httpx.Client, run_id: int) -> None:
    with client.stream("GET", f"/api/v1/runs/{run_id}/logs") as events:
        for line in events.iter_lines():
            if line.startswith("event: line"):
                return
    raise SystemExit(f"run {run_id} ended without a log line")


def push_once(source: Path, client: httpx.Client) -> tuple[float, float]:
    git(source, "commit", "-q", "--allow-empty", "-m", "bench")
    sha = git(source, "rev-parse", "HEAD")
    began = time.perf_counter()
    git(source, "push", "-q", "origin", "main")
    while sha[:12] not in client.get("/runs/table").text:
        time.sleep(0.01)
    visible = time.perf_counter() - began
    run_id = None
    while run_id is None:  # the page lists it while queued; its run starts a moment later
        runs = client.get("/api/v1/runs?limit=5").json()
        run_id = next((r["id"] for r in runs if r["sha"] == sha), None)
    first_line(client, run_id)
    logged = time.perf_counter() - began
    while client.get(f"/api/v1/runs/{run_id}").json()["status"] == "running":
        time.sleep(0.05)  # one at a time: the next push meets an idle worker
    return visible, logged


def cli_once(source: Path) -> float:
    began = time.perf_counter()
    command = [str(LOCKGATE), "run", "push"]
    with subprocess.Popen(command, cwd=source, env=IN_PROCESS, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as run:  # fmt: skip
        assert run.stdout is not None
        for line in run.stdout:
            if "first line of" in line:
                spent = time.perf_counter() - began
                break
        else:
            raise SystemExit("lockgate run printed no first line")
        run.wait()
    return spent


DOWN = 5


def push_while_down(source: Path, home: Path, port: int, token: str) -> tuple[float, float]:
    """(start to /healthz, start to the spooled push's run completed)."""
    git(source, "commit", "-q", "--allow-empty", "-m", "pushed while down")
    sha = git(source, "rev-parse", "HEAD")
    said = subprocess.run(["git", "-C", str(source), "push", "origin", "main"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert "spool" in said.stderr, said.stderr  # the hook kept it
    began = time.perf_counter()
    bearer = {"Authorization": f"Bearer {token}"}
    with serving(home, 1, env={}, port=port) as url, httpx.Client(base_url=url) as client:
        up = time.perf_counter() - began
        while True:
            runs = client.get("/api/v1/runs?limit=5", headers=bearer).json()
            done = [r for r in runs if r["sha"] == sha and r["status"] == "completed"]
            if done:
                return up, time.perf_counter() - began
            time.sleep(0.05)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lockgate-push-") as tmp:
        root = Path(tmp)
        source = committed_repo(root / "src", {".github/workflows/ci.yml": WORKFLOW})
        bare = root / "app.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
        git(source, "remote", "add", "origin", str(bare))
        home = root / "home"
        token = api_token(home, "bench")
        with serving(home, 1, env={}) as url, httpx.Client(base_url=url, timeout=60) as client:
            subprocess.run([str(LOCKGATE), "hook", "install", str(bare), "--server", url,
                            "--token-file", str(home / "hook-token")],
                           check=True, capture_output=True, env=IN_PROCESS)  # fmt: skip
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert csrf is not None
            client.post("/login", data={"token": token, "csrf": csrf.group(1)})
            push_once(source, client)  # warm-up: the first fetch and run
            served = [push_once(source, client) for _ in range(PUSHES)]
        port = int(url.rsplit(":", 1)[1])
        down = [push_while_down(source, home, port, token) for _ in range(DOWN)]
        cli_once(source)  # warm-up
        local = [cli_once(source) for _ in range(PUSHES)]
    visible = statistics.median(v for v, _ in served)
    logged = statistics.median(line for _, line in served)
    baseline = statistics.median(local)
    print(json.dumps({"pushes": PUSHES, "visible_s": round(visible, 3),
                      "first_log_line_s": round(logged, 3),
                      "cli_first_log_line_s": round(baseline, 3)}))  # fmt: skip
    print(f"git push -> run on the runs page: median {visible:.2f}s")
    print(f"git push -> first log line on the live stream: median {logged:.2f}s")
    print(f"lockgate run -> first log line (baseline): median {baseline:.2f}s; "
          f"ratio {logged / baseline:.2f}")  # fmt: skip
    up = statistics.median(u for u, _ in down)
    finished = statistics.median(f for _, f in down)
    print(
        f"a push while the server was down -> its run finished, from the server's start: "
        f"median {finished:.2f}s; the start alone {up:.2f}s; ratio {finished / up:.2f}"
    )


if __name__ == "__main__":
    main()
