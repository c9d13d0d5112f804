"""Shared fixtures: paths, the CLI runner, and helpers for real git repositories."""

from __future__ import annotations

import compileall
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Beside the project, or wherever LOCKGATE_CONFORMANCE points (a workspace copy has no ../shared).
CONFORMANCE = Path(os.environ.get("LOCKGATE_CONFORMANCE") or ROOT.parent / "shared" / "conformance")
IN_CI = os.environ.get("CI") == "true"
# Tests make their own repositories and stores; a store or remote cache of the calling shell
# (or of a `lockgate run` running this suite) must not leak into them.
for _name in ("LOCKGATE_DB", "LOCKGATE_REMOTE_CACHE", "LOCKGATE_GITHUB_URL"):
    os.environ.pop(_name, None)
# `python3` in the tests' apps and steps is this interpreter, found first on PATH: a version
# manager's shim ahead of it (pyenv's is a bash script forking some forty processes a call)
# cost more CPU than the apps it started.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile lockgate's modules once, before any worker starts. These machines set
    PYTHONDONTWRITEBYTECODE, so no process ever keeps its bytecode, and each of the hundreds of
    processes the tests start (servers, agents, runs, hosts) compiled every module it imported
    again: a sixth of a server's start."""
    if not hasattr(session.config, "workerinput"):  # the controller, not each worker
        compileall.compile_dir(ROOT / "src", quiet=1)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers a core. Most end-to-end tests spend their time waiting on the
    processes they started (a rollout's probes, a server's poll), so one worker a core leaves
    the cores idle half the time (measured: 5:49 with 2 workers, 4:19 with 4, on 2 cores)."""
    return 2 * (os.cpu_count() or 1)


@pytest.fixture(scope="session", autouse=True)
def tool_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tool cache (actions, toolchains, setup-python's pip templates, crash reports) for
    the session's parallel workers, never the user's. Shared as several `lockgate` processes
    on one machine share it (its writers lock and rename): each worker made its own templates
    and downloads again before."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' common temporary root
    path = root / "tool-cache"
    path.mkdir(exist_ok=True)
    os.environ["LOCKGATE_CACHE_DIR"] = str(path)
    return path


def need(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is missing; under CI=true a missing prerequisite fails."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


LOCKGATE = Path(sys.executable).parent / "lockgate"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    """Until something listens on 127.0.0.1:`port`; fails if `process` exits first."""
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert process.poll() is None, f"{what} exited"
            assert time.monotonic() < deadline, f"{what} did not start listening"
            time.sleep(0.05)


def make_repo(root: Path, files: dict[str, str], commit: bool = True) -> Path:
    """A real git repository holding `files` (path -> text), committed on branch main."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-qm", "initial")
    return root


def lockgate(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed `lockgate` command as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(LOCKGATE), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_json(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    import json

    done = lockgate("run", *args, "--output", "json", cwd=repo, env=env)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def jobs_by_key(report: dict) -> dict:  # type: ignore[type-arg]
    return {job["key"]: job for run in report["runs"] for job in run["jobs"]}


def cached_from(report: dict) -> dict[str, int | None]:  # type: ignore[type-arg]
    """Job key -> the run a cache hit restored it from (None: it ran)."""
    return {key: job["cached_from"] for key, job in jobs_by_key(report).items()}
