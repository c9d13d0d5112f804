"""What the benchmarks share.

They time what a user gets: the `lockgate` client with its warm server running.
`warm_server()` starts the server (as any first command does) and waits until it answers;
`IN_PROCESS` is the environment for the same commands without a server (LOCKGATE_DAEMON=0),
which benchmarks report beside, so the cost of start-up stays visible. `committed_repo` and
`example_app` build the repositories they run in.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from lockgate.cli.launcher import socket_path
from lockgate.common.ports import free_port

LOCKGATE = Path(sys.executable).parent / "lockgate"
IN_PROCESS = {**os.environ, "LOCKGATE_DAEMON": "0"}


def lockgate_json(repo: Path, *args: str) -> dict:  # type: ignore[type-arg]
    """`lockgate ARGS -o json` in `repo`; its answer, or the run stops with what it said."""
    done = subprocess.run(
        [str(LOCKGATE), *args, "-o", "json"], cwd=repo, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"lockgate {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(done.stdout))


def warm_server() -> None:
    subprocess.run([str(LOCKGATE), "version"], capture_output=True, check=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(socket_path()):
        if time.monotonic() > deadline:
            raise SystemExit("the lockgate server did not start")
        time.sleep(0.05)


ROOT = Path(__file__).resolve().parents[1]


def committed_repo(root: Path, files: dict[str, str]) -> Path:
    """A git repository at `root` holding `files` (path -> text) in one commit on main."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "-C", str(root), *identity, "commit", "-qm", "bench"], check=True)
    return root


class Load:
    """`workers` threads, each sending GET / over one keep-alive connection, counting the
    requests sent and those that failed (no answer, or a 5xx)."""

    def __init__(self, port: int, workers: int = 8) -> None:
        self.port, self.stop = port, threading.Event()
        self.sent = self.failed = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(workers)]

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                ok = response.status < 500
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            with self.lock:
                self.sent += 1
                self.failed += not ok
            time.sleep(0.002 if ok else 0.01)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def stop_agent(repo: Path) -> None:
    """Stop the agent a deploy started for `repo` (its pid is in the lock it holds)."""
    lock = repo / ".lockgate" / "agent.lock"
    try:
        pid = int(lock.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)


def median_seconds(work: Callable[[], object], repeat: int = 3) -> float:
    """The median wall time of `repeat` calls of `work`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def example_app(directory: Path, **behavior: object) -> Path:
    """A copy of examples/app whose behavior.json is `behavior`."""
    directory.mkdir(parents=True)
    for name in ("app.py", "lockgate-app.yaml"):
        (directory / name).write_text((ROOT / "examples" / "app" / name).read_text())
    (directory / "behavior.json").write_text(json.dumps(behavior))
    return directory


def api_token(home: Path, name: str, role: str = "viewer", *extra: str) -> str:
    """A new API token of `lockgate serve` with home `home` (`extra`: e.g. --db URL)."""
    return subprocess.run(
        [str(LOCKGATE), "token", "create", name, "--role", role, "--home", str(home), *extra],
        capture_output=True, text=True, check=True, env=IN_PROCESS,
    ).stdout.strip()  # fmt: skip


@contextlib.contextmanager
def serving(
    home: Path, workers: int, *extra: str, env: dict[str, str], port: int | None = None
) -> Iterator[str]:
    """`lockgate serve` on `port` (else a free one) until the block ends (killed with -9);
    yields its URL once it answers."""
    port = port or free_port()
    server = subprocess.Popen(
        [str(LOCKGATE), "serve", "--home", str(home), "--port", str(port),
         "--workers", str(workers), *extra],
        env={**IN_PROCESS, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("lockgate serve did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        server.kill()
        server.wait()


def rss_kib(url: str, field: str = "VmRSS") -> int:
    """The memory of the `lockgate serve` answering at `url` (VmHWM: its peak), in KiB."""
    port = url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and port.encode() in argv:
            for line in (entry / "status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    raise SystemExit("the server's process was not found")
