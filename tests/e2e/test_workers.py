"""Runners on other machines: a real Redis, a real `lockgate serve --broker`, and `lockgate
worker` processes with homes of their own and no shared workspace. Jobs (a matrix's legs too)
go to workers that have their labels; needs' outputs, artifacts, secrets and test results
cross machines; a
worker killed with -9 mid-job loses nothing (the job runs again elsewhere); a job waits, saying
why, for labels no worker has, through a broker restart; cancel reaches the worker's process;
a drained worker finishes and stops; a wrong token is refused, a revoked one stops its worker;
a server killed with -9 and started again is found again by its worker, which takes jobs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.common.ports import free_port

from ..conftest import LOCKGATE, git, lockgate, need
from .fleet import eventually
from .nginx import running_nginx
from .serving import Server, bare_repository, bearer, make_token, servers, start_server

__all__ = ["servers"]  # the fixture
pytestmark = pytest.mark.integration
SECRET = "s3cr3t-value-from-the-server"

CI = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - uses: actions/checkout@v4
      - id: v
        run: |
          echo "version=$(cat version.txt)" >> "$GITHUB_OUTPUT"
          mkdir out && echo "built $(cat version.txt)" > out/app.txt
          echo "token is ${{ secrets.DEPLOY_TOKEN }}"
          git log --format=%s -1
      - uses: actions/upload-artifact@v4
        with: {name: app, path: out}
  test:
    needs: build
    runs-on: [self-hosted, gpu]
    strategy:
      matrix: {leg: [1, 2, 3]}
    steps:
      - uses: actions/download-artifact@v4
        with: {name: app}
      - run: test "$(cat app.txt)" = "built ${{ needs.build.outputs.version }}" && echo "leg ${{ matrix.leg }} ok"
      - run: echo '<testsuite name="legs"><testcase classname="legs" name="leg${{ matrix.leg }}" time="0.2"/></testsuite>' > junit.xml
  slow:
    runs-on: [self-hosted, plain]
    steps:
      - run: echo started; sleep 4; echo finished
"""

CACHED = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      size: ${{ steps.b.outputs.size }}
    steps:
      - uses: actions/checkout@v4
      - id: b
        run: |
          echo "building $(cat app.txt)"
          echo "size=$(wc -c < app.txt)" >> "$GITHUB_OUTPUT"
          mkdir out && cp app.txt out/
      - uses: actions/upload-artifact@v4
        with: {name: app, path: out}
"""

WAITING = """on: push
jobs:
  arm:
    runs-on: [self-hosted, arm9]
    steps:
      - run: echo "on an arm9 machine"
  long:
    runs-on: ubuntu-latest
    steps:
      - run: echo started; sleep 300
"""


@dataclass
class Redis:
    """A broker as workers on other machines reach one: with a password (Redis takes no
    connection from another address without one)."""

    port: int
    data: Path
    process: subprocess.Popen[bytes] | None = None
    password: str = "br0ker-pass"

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), "-a", self.password,
                               "--no-auth-warning", *args],
                              capture_output=True, text=True).stdout  # fmt: skip

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--dir", str(self.data), "--requirepass", self.password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        eventually(lambda: self.cli("ping").strip() == "PONG", 20, "redis-server answering")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    data = tmp_path / "redis"
    data.mkdir()
    broker = Redis(free_port(), data)
    broker.start()
    yield broker
    broker.stop()


@dataclass
class Worker:
    name: str
    home: Path
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        """The machine dies: the worker and every process it started."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait()


def start_worker(server: Server, broker: Redis, root: Path, name: str, *extra: str) -> Worker:
    token = root / f"{name}.token"
    token.write_text(make_token(server.home, name, "worker"))
    home = root / f"worker-{name}"
    process = subprocess.Popen(
        [str(LOCKGATE), "worker", "--server", server.url, "--token-file", str(token),
         "--broker", broker.url, "--home", str(home), *extra],
        stdout=subprocess.DEVNULL, stderr=(root / f"{name}.log").open("ab"),
        start_new_session=True)  # fmt: skip
    worker = Worker(name, home, process)
    eventually(lambda: _state(server, name) == "idle", 60, f"worker {name} online")
    return worker


def _state(server: Server, name: str) -> str | None:
    for shown in server.get("/api/v1/workers"):
        if shown["name"] == name:
            return str(shown["state"])
    return None


def _push(source: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    git(source, "add", "-A")
    git(source, "commit", "-qm", message)
    git(source, "push", "-q", "origin", "HEAD:main")


def _serve_with_broker(tmp_path: Path, redis: Redis, servers: list[Server]) -> Server:
    secrets = tmp_path / "secrets"
    secrets.write_text(f"DEPLOY_TOKEN={SECRET}\nUNUSED=another-secret-value\n")
    secrets.chmod(0o600)
    server = start_server(tmp_path / "home", 2, "--broker", redis.url, "--lost-after", "3",
                          "--secret-file", str(secrets))  # fmt: skip
    servers.append(server)
    return server


def _hooked(tmp_path: Path, server: Server, files: dict[str, str]) -> Path:
    source, bare = bare_repository(tmp_path, files)
    installed = lockgate("hook", "install", str(bare), "--server", server.url,
                         "--token-file", str(server.home / "hook-token"), cwd=tmp_path)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    git(source, "remote", "add", "origin", str(bare))
    return source


def _run(server: Server, message: str) -> dict[str, Any] | None:
    for run in server.get("/api/v1/runs"):
        if run.get("commit_message") == message:
            found: dict[str, Any] = server.get(f"/api/v1/runs/{run['id']}")
            return found
    return None


def _log(server: Server, run_id: int) -> str:
    answer = httpx.get(f"{server.url}/api/v1/runs/{run_id}/logs.txt", headers=bearer(server.token))
    return answer.text


def test_jobs_run_on_workers_with_their_labels_and_a_killed_worker_loses_nothing(
    tmp_path: Path, redis: Redis, servers: list[Server], workers: list[Worker]
) -> None:
    server = _serve_with_broker(tmp_path, redis, servers)
    bad = tmp_path / "bad.token"
    bad.write_text("lg_not-a-token")
    refused = lockgate("worker", "--server", server.url, "--token-file", str(bad),
                       "--broker", redis.url, "--home", str(tmp_path / "bad"), cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2 and "refused this worker's token (401)" in refused.stderr
    with_admin = httpx.post(f"{server.url}/api/v1/worker/heartbeat", headers=bearer(server.token),
                            json={"labels": [], "concurrency": 1, "host": "x", "state": "idle"})  # fmt: skip
    assert with_admin.status_code == 403  # the worker API takes worker tokens only
    elsewhere = lockgate("worker", "--server", server.url, "--token-file", str(bad),
                         "--broker", redis.url, "--address", "192.0.2.7", cwd=tmp_path)  # fmt: skip
    assert elsewhere.returncode == 2 and "cannot connect from '192.0.2.7'" in elsewhere.stderr
    # three machines, as the server and the broker see them: 127.0.0.2-4
    workers.append(start_worker(server, redis, tmp_path, "gpu-1", "--labels", "gpu",
                                "--concurrency", "2", "--address", "127.0.0.2"))  # fmt: skip
    for name, address in (("plain-1", "127.0.0.3"), ("plain-2", "127.0.0.4")):
        workers.append(start_worker(server, redis, tmp_path, name, "--labels", "plain",
                                    "--address", address))  # fmt: skip
    seen = {w["name"]: w["address"] for w in server.get("/api/v1/workers")}
    assert seen == {"gpu-1": "127.0.0.2", "plain-1": "127.0.0.3", "plain-2": "127.0.0.4"}

    def consuming() -> bool:  # each worker's Celery consumer connects after its first heartbeat
        sources = set(re.findall(r"addr=([0-9.]+):", redis.cli("client", "list")))
        return {"127.0.0.2", "127.0.0.3", "127.0.0.4"} <= sources

    eventually(consuming, 60, "Redis to see the three workers from their addresses")
    source = _hooked(tmp_path, server, {"version.txt": "7\n"})
    _push(source, {".github/workflows/ci.yml": CI}, "spread")

    def slow_started() -> bool:
        run = _run(server, "spread")
        return run is not None and any(
            j["key"] == "slow" and j["status"] == "running" and j["runner"] for j in run["jobs"]
        )

    eventually(slow_started, 120, "the slow job running on a worker")
    run = _run(server, "spread")
    assert run is not None
    first = next(j["runner"] for j in run["jobs"] if j["key"] == "slow")
    victim = next(w for w in workers if w.name == first)
    victim.kill()  # mid-job

    def finished() -> bool:
        found = _run(server, "spread")
        return found is not None and found["status"] == "completed"

    eventually(finished, 180, "the run to finish without the killed worker")
    run = _run(server, "spread")
    assert run is not None and run["conclusion"] == "success", run
    jobs = {j["key"]: j for j in run["jobs"]}
    assert jobs["slow"]["runner"] not in (None, first)
    assert any(f"worker {first} was lost" in a["message"] for a in jobs["slow"]["annotations"])
    for leg in ("test (1)", "test (2)", "test (3)"):
        assert jobs[leg]["runner"] == "gpu-1"  # the only one with the label
    log = _log(server, run["id"])
    assert "token is ***" in log and SECRET not in log
    assert "leg 1 ok" in log and "leg 3 ok" in log and "spread" in log  # git log: a clone
    assert log.count("started") == 1 and log.count("finished") == 1  # the lost try went
    for worker in workers:  # the secret never reached a worker's disk
        for path in worker.home.rglob("*"):
            assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path
    # a worker writes only to the job it runs now: not to another's, not to one that ended
    gpu = bearer((tmp_path / "gpu-1.token").read_text())
    for path, body in (("records", {"records": [{"op": "add_logs", "logs": [[1, 1.0, "x"]]}]}),
                       ("tests/results", []), ("beat", None)):  # fmt: skip
        forged = httpx.post(f"{server.url}/api/v1/worker/assignments/1/{path}", headers=gpu,
                            json=body)  # fmt: skip
        assert forged.status_code == 409, (path, forged.text)
    again = httpx.post(f"{server.url}/api/v1/worker/assignments/1/claim", headers=gpu,
                       json={"attempt": 1})  # fmt: skip
    assert again.status_code == 409  # a late redelivery of a job that ran
    tested = {t["test"] for t in server.get("/api/v1/insights/tests")}  # in the server's store
    assert {"legs::leg1", "legs::leg2", "legs::leg3"} <= tested, tested
    eventually(lambda: _state(server, first) == "offline", 30, "the killed worker offline")
    shown = {w["name"]: w for w in server.get("/api/v1/workers")}
    assert shown["gpu-1"]["jobs_run"] >= 3


def test_a_job_waits_for_its_labels_through_a_broker_restart_and_cancel_reaches_the_worker(
    tmp_path: Path, redis: Redis, servers: list[Server], workers: list[Worker]
) -> None:
    server = _serve_with_broker(tmp_path, redis, servers)
    workers.append(start_worker(server, redis, tmp_path, "plain-1"))
    source = _hooked(tmp_path, server, {"README": "x\n"})
    _push(source, {".github/workflows/ci.yml": WAITING}, "waiting")

    def job(key: str) -> dict[str, Any] | None:
        run = _run(server, "waiting")
        return next((j for j in run["jobs"] if j["key"] == key), None) if run else None

    def says_why() -> bool:
        arm = job("arm")
        return arm is not None and "labels arm9: none of the 1 online" in (arm["message"] or "")

    eventually(says_why, 120, "the arm9 job saying why it waits")
    eventually(lambda: (job("long") or {}).get("status") == "running", 60, "the long job running")
    redis.stop()  # the queued job's message must survive the broker's restart
    redis.start()
    workers.append(start_worker(server, redis, tmp_path, "arm-1", "--labels", "arm9"))
    eventually(lambda: (job("arm") or {}).get("conclusion") == "success", 120, "the arm9 job")
    assert (job("arm") or {})["runner"] == "arm-1"
    run = _run(server, "waiting")
    assert run is not None
    sleeping = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True)
    assert sleeping.stdout.strip(), "the long job's process runs on the worker"
    cancelled = httpx.post(f"{server.url}/api/v1/runs/{run['id']}/cancel",
                           headers=bearer(server.token))  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    eventually(lambda: (job("long") or {}).get("conclusion") == "cancelled", 60, "the cancel")
    eventually(lambda: not _sleeping(), 30, "the worker's step process stopped")
    drained = lockgate("worker", "--server", server.url, "--token-file",
                       str(tmp_path / "plain-1.token"), "--drain", cwd=tmp_path)  # fmt: skip
    assert drained.returncode == 0, drained.stderr
    eventually(lambda: workers[0].process.poll() is not None, 60, "the drained worker to stop")
    assert workers[0].process.returncode == 0
    assert _state(server, "plain-1") == "stopped"
    revoked = lockgate("token", "revoke", "arm-1", "--home", str(server.home), cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    eventually(lambda: workers[1].process.poll() is not None, 60, "the revoked worker to stop")
    assert "this worker's token (401)" in (tmp_path / "arm-1.log").read_text()
    with httpx.Client(base_url=server.url) as browser:  # the page, as a logged-in reader sees it
        csrf = browser.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
        browser.post("/login", data={"token": server.token, "csrf": csrf})
        page = browser.get("/workers").text
        run_page = browser.get(f"/runs/{run['id']}").text
    assert 'data-worker="arm-1"' in page and "arm9" in page
    assert 'ran on worker <a href="/workers">arm-1</a>' in run_page


def _sleeping() -> bool:
    return bool(subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True).stdout.strip())


def test_a_job_run_on_a_worker_is_kept_in_the_remote_cache_and_restored_without_one(
    tmp_path: Path, redis: Redis, servers: list[Server], workers: list[Worker]
) -> None:
    data = tmp_path / "webdav"
    data.mkdir()
    (tmp_path / "nginx").mkdir()
    location = f"""    location / {{
      root {data};
      dav_methods PUT DELETE;
      create_full_put_path on;
      client_max_body_size 0;
    }}"""
    with running_nginx(tmp_path / "nginx", location) as port:
        server = start_server(tmp_path / "home", 2, "--broker", redis.url,
                              LOCKGATE_REMOTE_CACHE=f"http://127.0.0.1:{port}/cache")  # fmt: skip
        servers.append(server)
        workers.append(start_worker(server, redis, tmp_path, "plain-1"))
        source = _hooked(tmp_path, server, {"app.txt": "hello\n"})
        _push(source, {".github/workflows/ci.yml": CACHED}, "first")
        eventually(lambda: (_run(server, "first") or {}).get("status") == "completed", 120,
                   "the first run")  # fmt: skip
        # the server is killed and started again: the worker reconnects on its own
        server.process.kill()
        server.process.wait()
        killed = time.time()
        server = start_server(tmp_path / "home", 2, "--broker", redis.url, port=server.port,
                              LOCKGATE_REMOTE_CACHE=f"http://127.0.0.1:{port}/cache")  # fmt: skip
        servers.append(server)

        def heard_again() -> bool:
            (shown,) = server.get("/api/v1/workers")
            return shown["state"] == "idle" and shown["last_heartbeat"] > killed

        eventually(heard_again, 60, "the worker's heartbeat reaching the new server")
        git(source, "commit", "-q", "--allow-empty", "-m", "second")  # the same tree
        git(source, "push", "-q", "origin", "HEAD:main")
        eventually(lambda: (_run(server, "second") or {}).get("status") == "completed", 120,
                   "the second run")  # fmt: skip
        _push(source, {"app.txt": "hello again\n"}, "third")  # a new tree: the worker runs it
        eventually(lambda: (_run(server, "third") or {}).get("status") == "completed", 120,
                   "the third run")  # fmt: skip
    third = _run(server, "third")
    assert third is not None and third["conclusion"] == "success"
    assert third["jobs"][0]["runner"] == "plain-1" and third["jobs"][0]["cached_from"] is None
    first, second = _run(server, "first"), _run(server, "second")
    assert first is not None and second is not None
    built, restored = first["jobs"][0], second["jobs"][0]
    assert built["conclusion"] == "success" and built["runner"] == "plain-1"
    assert restored["cached_from"] == first["id"] and restored["runner"] is None
    assert restored["outputs"] == {"size": "6"}
    assert [a["name"] for a in second["artifacts"]] == ["app"]
    assert "building hello" in _log(server, second["id"])  # the worker's log, kept
