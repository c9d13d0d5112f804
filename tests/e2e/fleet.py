"""Helpers for deployment tests: an app repository, versions of the example app, steady load."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lockgate.common.ports import free_port

from ..conftest import ROOT, lockgate, make_repo

__all__ = ["free_port"]  # the tests take it from here with the other fleet helpers

EXAMPLE_APP = ROOT / "examples" / "app"
Fleets = Callable[..., tuple[Path, int]]  # the `fleets` fixture: (replicas, strategy, **extra)


def app_version(repo: Path, name: str, **behavior: object) -> Path:
    """A copy of the example app under repo/name with its behavior.json set."""
    target = repo / name
    shutil.copytree(EXAMPLE_APP, target, dirs_exist_ok=True)
    (target / "behavior.json").write_text(json.dumps({"version": name, **behavior}))
    return target


def build(repo: Path, app_dir: Path) -> str:
    done = lockgate("artifact", "build", str(app_dir), "-o", "json", cwd=repo)
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["digest"])


def fleet_repo(
    tmp_path: Path, replicas: int, strategy: str, router: str = "builtin", **extra: object
) -> tuple[Path, int]:
    """A repository with an environment file `env.yaml`; returns (repo, router port)."""
    port = free_port()
    lines = [f"{k}: {json.dumps(v)}" for k, v in extra.items()]
    env = "\n".join(
        [
            "app: hello",
            "environment: test",
            f"target: {{replicas: {replicas}}}",
            f"router: {{type: {router}, port: {port}}}",
            "strategy:",
            f"  type: {strategy}",
            *(f"  {line}" for line in lines),
            "",
        ]
    )
    repo = make_repo(tmp_path / "repo", {"env.yaml": env})
    return repo, port


def eventually(check: Callable[[], bool], seconds: float = 30, what: str = "") -> None:
    """Wait until `check()`, asking at once, then more and more rarely (50 ms growing to
    half a second): many checks run `lockgate status`, which looks at every instance, and
    asked every 50 ms for a minute they cost more CPU than what they wait for."""
    deadline = time.monotonic() + seconds
    pause = 0.05
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds}s: {what}"
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


def gone(pid: int) -> bool:
    """Whether the process has exited (a zombie not yet reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def deploy(repo: Path, digest: str, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    done = lockgate("deploy", "env.yaml", "--artifact", digest, "-o", "json", *extra, cwd=repo)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def status(repo: Path, healthy: bool = True) -> dict:  # type: ignore[type-arg]
    """`lockgate status test -o json`; unless `healthy` is False, it must not be degraded."""
    done = lockgate("status", "test", "-o", "json", cwd=repo)
    assert done.returncode in ((0,) if healthy else (0, 3)), done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def fleet_processes(repo: Path) -> dict[str, int]:
    """instance id -> pid of every live process of the repository's `test` fleet."""
    return processes_of(repo / ".lockgate" / "fleet" / "test")


def processes_of(fleet: Path) -> dict[str, int]:
    """instance id -> pid of every live process carrying the marker of the fleet kept in
    `fleet` (a local environment's directory, or a fleet's directory on an SSH host)."""
    marker = f"LOCKGATE_FLEET={fleet}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if marker in environ and state != "Z":
            for item in environ:
                if item.startswith(b"LOCKGATE_INSTANCE_ID="):
                    found[item.split(b"=", 1)[1].decode()] = int(entry.name)
    return found


def agents(repo: Path) -> list[int]:
    """Pids of the agents started for this repository (one, or one more still starting)."""
    wanted = b"\0".join([b"agent", b"--repo", str(repo).encode()])
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and wanted in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def stop_agent(repo: Path) -> None:
    """Kill the agents a deploy started (they would start the instances again)."""
    for pid in agents(repo):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def teardown(repo: Path, environments: tuple[str, ...] = ("test",)) -> None:
    """Stop the agent, the fleets and the routers a test started."""

    def no_agent() -> bool:
        # A child the agent was forking carries the agent's command line until its exec:
        # once no such process is left, every instance it started carries the fleet's marker.
        stop_agent(repo)
        return all(gone(pid) for pid in agents(repo))

    def no_instance() -> bool:
        found = {
            k: v
            for name in environments
            for k, v in processes_of(repo / ".lockgate" / "fleet" / name).items()
        }
        for pid in found.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        return not found

    eventually(no_agent, 30, "the agent stopped")
    eventually(no_instance, 30, "the instances stopped")
    for environment in environments:
        for name in ("router.json", "haproxy.json"):
            info = repo / ".lockgate" / "fleet" / environment / name
            if not info.exists():
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError, KeyError, ValueError):
                os.killpg(int(json.loads(info.read_text())["pid"]), signal.SIGTERM)


@dataclass
class Load:
    """Steady requests against the router from `workers` threads, each on a keep-alive
    connection (several, so one slow answer does not starve the others). Each waits 10 ms
    between requests: a few hundred a second is traffic enough, and the CPU stays with the
    fleets under test (unpaced, the load took most of two loaded cores)."""

    port: int
    workers: int = 4
    results: list[tuple[float, int, str]] = field(default_factory=list)  # sent, status, body
    failures: list[tuple[float, str]] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(self.workers)]
        for thread in self.threads:
            thread.start()
        return self

    def run(self) -> None:
        # http.client, not httpx: a third of the CPU a request (these run beside the fleets)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop_event.wait(0.01):
            sent = time.time()  # when the request left: what the router could know then
            try:
                connection.request("GET", "/")
                answer = connection.getresponse()
                body = answer.read().decode(errors="replace")
                self.results.append((sent, answer.status, body))
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append((sent, repr(exc)))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.close()

    def __exit__(self, *_: object) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.results.sort()

    @property
    def errors(self) -> list[str]:
        return [f"{t}: {why}" for t, why in self.failures] + [
            f"{t}: HTTP {code}" for t, code, _ in self.results if code >= 500
        ]


def deploy_under_load(repo: Path, port: int, digest: str) -> Load:
    """Deploy `digest` while steady requests go through the router: it must succeed and no
    request may fail. The load, for what it saw."""
    with Load(port) as load:
        code, report = deploy(repo, digest)
    assert code == 0, report
    assert load.errors == [], load.errors
    return load
