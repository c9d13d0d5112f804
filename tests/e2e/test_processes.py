"""Timeouts, fail-fast, Ctrl-C and crashes: whole process groups die, nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ..conftest import LOCKGATE, jobs_by_key, lockgate, make_repo, run_json

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _wait_for(path: Path, deadline: float = 20) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


def test_step_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    wf = f"""
on: push
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - timeout-minutes: 0.03
        run: |
          sleep 300 &
          echo $! > {pidfile}
          sleep 300
      - if: always()
        run: echo after-timeout
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/t.yml": wf})
    started = time.monotonic()
    code, report = run_json(repo)
    assert time.monotonic() - started < 30
    assert code == 1
    job = jobs_by_key(report)["slow"]
    assert job["steps"][0]["outcome"] == "failure"
    assert not _alive(int(pidfile.read_text()))
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "exceeded its timeout-minutes" in logs and "after-timeout" in logs


def test_job_timeout_and_background_processes_are_cleaned_up(tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"
    wf = f"""
on: push
jobs:
  server:
    runs-on: ubuntu-latest
    timeout-minutes: 0.05
    steps:
      - run: |
          (sleep 300 & echo $! > {pidfile}) &
      - run: sleep 300
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/t.yml": wf})
    code, report = run_json(repo)
    assert code == 1
    assert "timeout-minutes" in jobs_by_key(report)["server"]["message"]
    assert not _alive(int(_wait_for(pidfile)))


def test_fail_fast_cancels_the_other_matrix_jobs(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  m:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: |
          if [ "${{ matrix.n }}" = 1 ]; then sleep 0.5; exit 1; fi
          sleep 120
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/f.yml": wf})
    started = time.monotonic()
    code, report = run_json(repo, "--jobs", "2")
    assert time.monotonic() - started < 60
    jobs = jobs_by_key(report)
    assert code == 1
    assert jobs["m (1)"]["conclusion"] == "failure"
    assert jobs["m (2)"]["conclusion"] == "cancelled"


def test_ctrl_c_cancels_and_runs_cleanup_steps(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    wf = f"""
on: push
jobs:
  long:
    runs-on: ubuntu-latest
    steps:
      - run: echo up > {marker}; sleep 300
      - if: cancelled()
        run: echo cleanup-after-cancel
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/c.yml": wf})
    proc = subprocess.Popen(
        [str(LOCKGATE), "run", "--output", "json"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(marker)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    job = jobs_by_key(json.loads(out))["long"]
    assert job["conclusion"] == "cancelled"
    assert job["steps"][0]["outcome"] == "cancelled"
    assert "cleanup-after-cancel" in lockgate("logs", "1", cwd=repo).stdout


def test_killed_run_is_shown_as_interrupted_with_its_logs(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    wf = f"""
on: push
jobs:
  crash:
    runs-on: ubuntu-latest
    steps:
      - run: echo first-step-done
      - run: echo line-before-kill; echo up > {marker}; sleep 300
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/k.yml": wf})
    proc = subprocess.Popen(
        [str(LOCKGATE), "run"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_for(marker)
    # A running step's lines reach the store within a moment (they are flushed in batches).
    deadline = time.monotonic() + 30
    while "line-before-kill" not in lockgate("logs", "1", cwd=repo).stdout:
        assert time.monotonic() < deadline, "the running step's lines were never stored"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    shown = json.loads(lockgate("show", "1", "--output", "json", cwd=repo).stdout)
    assert shown["status"] == "interrupted"
    assert shown["jobs"][0]["status"] == "interrupted"
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "first-step-done" in logs and "line-before-kill" in logs


def test_escaped_processes_are_stopped_and_always_steps_run_after_a_timeout(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    wf = f"""
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    timeout-minutes: 0.05
    steps:
      - run: |
          (setsid sleep 300 & echo $! >> {pids}) &
          (sleep 301 & echo $! >> {pids}; disown) &
          nohup sh -c 'echo $$ >> {pids}; exec sleep 302' > /dev/null 2>&1 &
          echo started
      - run: sleep 300
      - if: always()
        run: echo cleanup-ran
      - run: echo never-runs
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/t.yml": wf})
    code, report = run_json(repo)
    assert code == 1
    steps = jobs_by_key(report)["t"]["steps"]
    assert [s["conclusion"] for s in steps] == ["success", "cancelled", "success", "skipped"]
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "cleanup-ran" in logs and "never-runs" not in logs
    started = [int(p) for p in _wait_for(pids).split()]
    assert len(started) == 3 and not any(_alive(pid) for pid in started)


def test_a_server_started_in_the_background_serves_the_next_step(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - run: |
          python3 -m http.server 0 --bind 127.0.0.1 > server.log 2>&1 &
          for i in $(seq 100); do grep -q "Serving HTTP" server.log && break; sleep 0.1; done
          sed -E 's/.*port ([0-9]+).*/\\1/' server.log | head -1 > port
      - run: python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:'+open('port').read().strip()).status)"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/t.yml": wf})
    code, report = run_json(repo)
    assert code == 0, report
    assert "200" in lockgate("logs", "1", cwd=repo).stdout


SERVER = """
import http.server

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
with open("port.tmp", "w") as out:
    out.write(str(server.server_address[1]))
print("serving", flush=True)
server.serve_forever()  # every request is logged to stderr: the step's output
"""


def test_a_background_server_that_logs_to_its_step_output_keeps_serving(tmp_path: Path) -> None:
    """Its step has ended, but its writes (the request log) must not fail until the job ends."""
    wf = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          python3 server.py &
          for i in $(seq 400); do [ -s port.tmp ] && break; sleep 0.05; done; mv port.tmp port
      - run: |
          python3 - <<'PY'
          import urllib.request
          port = open("port").read().strip()
          codes = [urllib.request.urlopen(f"http://127.0.0.1:{port}/server.py").status for _ in range(30)]
          print("answered", len(codes), set(codes))
          PY
      - run: python3 -c "import urllib.request; print('still', urllib.request.urlopen('http://127.0.0.1:' + open('port').read() + '/').status)"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/t.yml": wf, "server.py": SERVER})
    code, _ = run_json(repo)
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert code == 0, logs
    assert "answered 30 {200}" in logs and "still 200" in logs
    assert "serving" in logs  # written while its step ran: shown


def test_default_shell_is_bash_e_without_pipefail(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - run: false | true; echo default-shell-kept-going
      - shell: bash
        run: false | true; echo explicit-bash-never-prints-this
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/t.yml": wf})
    code, report = run_json(repo)
    assert code == 1
    outcomes = [s["outcome"] for s in jobs_by_key(report)["t"]["steps"]]
    assert outcomes == ["success", "failure"]
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "default-shell-kept-going" in logs and "never-prints" not in logs


def test_after_kill_9_the_next_command_stops_what_the_run_left(tmp_path: Path) -> None:
    pidfile = tmp_path / "step.pid"
    wf = f"""
on: push
jobs:
  crash:
    runs-on: ubuntu-latest
    steps:
      - run: echo $$ > {pidfile}; (setsid sleep 301 &); sleep 300
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/k.yml": wf})
    proc = subprocess.Popen(
        [str(LOCKGATE), "run"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LOCKGATE_DAEMON": "0"},
    )
    step_pid = int(_wait_for(pidfile))
    temp = list(Path(tempfile.gettempdir()).glob(f"lockgate-run-{proc.pid}-*"))
    assert temp, "the run's temp folder is named after its process"
    os.kill(proc.pid, signal.SIGKILL)  # lockgate alone: its steps live on in their sessions
    proc.wait()
    assert _alive(step_pid)
    shown = json.loads(lockgate("show", "1", "--output", "json", cwd=repo).stdout)
    assert shown["status"] == "interrupted"
    assert shown["jobs"][0]["steps"][0]["status"] == "interrupted"
    deadline = time.monotonic() + 10
    while _alive(step_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(step_pid)
    assert not any(p.exists() for p in temp)
    leftover = subprocess.run(["pgrep", "-f", "sleep 301"], capture_output=True, text=True)
    assert not leftover.stdout.strip(), "a setsid child of the killed run survived"


def test_an_orphan_that_cleared_its_environment_does_not_outlive_the_run(tmp_path: Path) -> None:
    pidfile = tmp_path / "orphan.pid"
    wf = f"""
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - run: env -i /bin/sh -c '(setsid sleep 305 & echo $! > {pidfile})'; echo started
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/o.yml": wf})
    code, report = run_json(repo)
    assert code == 0, report
    orphan = int(_wait_for(pidfile))
    deadline = time.monotonic() + 5
    while _alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(orphan), "a double-forked step process with no marker outlived the run"
