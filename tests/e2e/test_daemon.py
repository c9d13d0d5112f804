"""The warm server behind `lockgate`: a command run through it behaves exactly like one run in
process (output, exit codes, cwd, environment), and the server goes away when idle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import LOCKGATE, jobs_by_key, lockgate, make_repo, need

pytestmark = pytest.mark.integration

WORKFLOW = """
on: push
jobs:
  greet:
    runs-on: ubuntu-latest
    outputs:
      where: ${{ steps.w.outputs.where }}
    steps:
      - id: w
        run: |
          echo "hello $CLIENT_ONLY_VAR"
          echo "where=$(basename "$GITHUB_WORKSPACE")" >> "$GITHUB_OUTPUT"
  broken:
    runs-on: ubuntu-latest
    steps:
      - run: exit 3
"""

UP = 90  # seconds a server may take to come up (its imports) on a machine busy with tests


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A private runtime directory with a short path: a socket's path may not exceed 107
    bytes, which pytest's temporary directories (plus the server's pid suffix) can."""
    path = Path(tempfile.mkdtemp(prefix="lg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _start_server(repo: Path, private: dict[str, str]) -> None:
    """Start the server for the runtime directory `private` names; return once it listens
    (its socket is there: its lock file comes first, while it still imports)."""
    lockgate("version", cwd=repo, env=private)
    deadline = time.monotonic() + UP
    runtime = Path(private["XDG_RUNTIME_DIR"])
    while not [p for p in runtime.glob("lockgate-*") if p.is_socket()]:
        assert time.monotonic() < deadline, "the server never came up"
        time.sleep(0.1)


def _comparable(stdout: str) -> dict:  # type: ignore[type-arg]
    return {
        key: (job["conclusion"], job["outputs"], [s["outcome"] for s in job["steps"]])
        for key, job in jobs_by_key(json.loads(stdout)).items()
    }


def test_a_served_command_behaves_like_one_run_in_process(tmp_path: Path, runtime: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": WORKFLOW})
    private = {"XDG_RUNTIME_DIR": str(runtime), "CLIENT_ONLY_VAR": "from-the-client"}
    here = lockgate(
        "run", "--no-cache", "-o", "json", cwd=repo, env={**private, "LOCKGATE_DAEMON": "0"}
    )
    _start_server(repo, private)
    served = lockgate("run", "--no-cache", "-o", "json", cwd=repo, env=private)
    assert here.returncode == served.returncode == 1
    assert _comparable(here.stdout) == _comparable(served.stdout)
    logs = lockgate(
        "logs", str(json.loads(served.stdout)["runs"][0]["run_id"]), cwd=repo, env=private
    )
    assert "hello from-the-client" in logs.stdout
    bad = lockgate("run", "-W", "missing.yml", cwd=repo, env=private)
    assert bad.returncode == 2 and "missing.yml" in bad.stderr and "Traceback" not in bad.stderr
    relative = lockgate("run", "-C", "repo", "--no-cache", "-j", "greet", cwd=tmp_path, env=private)
    assert relative.returncode == 0, relative.stderr


def test_a_served_command_killed_by_a_signal_says_so(tmp_path: Path, runtime: Path) -> None:
    """The command process (forked by the server) is killed with kill -9 by its own step: the
    client reports the signal and exits 137, as a shell does, instead of a silent 1."""
    wf = "on: push\njobs:\n  k:\n    runs-on: ubuntu-latest\n    steps:\n      - run: kill -9 $PPID\n"
    repo = make_repo(tmp_path / "repo", {".github/workflows/k.yml": wf})
    private = {"XDG_RUNTIME_DIR": str(runtime)}
    _start_server(repo, private)
    killed = lockgate("run", "--no-cache", cwd=repo, env=private)
    assert killed.returncode == 137, killed.stderr
    assert "lockgate: the command was killed by SIGKILL" in killed.stderr


def test_the_server_exits_when_idle(tmp_path: Path) -> None:
    address = tmp_path / "sock"
    server = subprocess.Popen(
        [sys.executable, "-m", "lockgate.cli.daemon", str(address), "1"],
        cwd="/",
        start_new_session=True,
    )
    deadline = time.monotonic() + UP
    while not address.exists():
        assert server.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    assert server.wait(timeout=30) == 0
    assert not address.exists()


def test_lockgate_daemon_0_never_starts_a_server(tmp_path: Path, runtime: Path) -> None:
    done = lockgate(
        "version", cwd=tmp_path, env={"XDG_RUNTIME_DIR": str(runtime), "LOCKGATE_DAEMON": "0"}
    )
    assert done.returncode == 0
    assert not runtime.exists() or not list(runtime.iterdir())
    assert os.environ.get("LOCKGATE_DAEMON") != "0"  # the suite itself runs through servers


def test_on_a_terminal_the_run_is_a_live_tree(tmp_path: Path) -> None:
    """Through the server, the command's terminal is the caller's: rich draws its live view."""
    import pty
    import re

    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": WORKFLOW})
    pid, fd = pty.fork()
    if pid == 0:  # the child: lockgate on a pseudo-terminal
        try:
            os.chdir(repo)
            os.execv(str(LOCKGATE), [str(LOCKGATE), "run", "-j", "greet", "--no-cache"])
        finally:
            os._exit(127)  # never go back into pytest
    output = bytearray()
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output.extend(chunk)
    _, status = os.waitpid(pid, 0)
    text = re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]", b"", bytes(output)).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "lockgate run" in text and "✓ greet" in text and "Traceback" not in text


def test_a_directory_someone_else_could_use_is_never_used(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"x": "y"})
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # as another user's /tmp/lockgate-UID would be
    done = lockgate("version", cwd=repo, env={"XDG_RUNTIME_DIR": str(shared)})
    assert done.returncode == 0 and done.stdout.strip()
    assert "not using the warm server" in done.stderr and "not private" in done.stderr
    assert not list(shared.iterdir()), "nothing may be created in a directory others can use"


def test_simultaneous_starts_leave_one_server(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    address = run / "sock"
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "lockgate.cli.daemon", str(address), "30"],
            cwd="/",
            start_new_session=True,
        )
        for _ in range(4)
    ]
    try:
        deadline = time.monotonic() + UP
        while not address.exists():
            assert time.monotonic() < deadline, "no server came up"
            time.sleep(0.05)
        # The others find the lock taken and exit; the one serving stays.
        while len(alive := [s for s in servers if s.poll() is None]) > 1:
            assert time.monotonic() < deadline, f"{len(alive)} servers running"
            time.sleep(0.05)
        assert len(alive) == 1, f"{len(alive)} servers running"
        assert all(s.returncode == 0 for s in servers if s not in alive)
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
                server.wait()


def test_a_served_command_keeps_the_callers_nice_value_limits_and_umask(
    tmp_path: Path, runtime: Path
) -> None:
    workflow = """
on: push
jobs:
  probe:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "nice=$(nice)"
          echo "files=$(ulimit -n)"
          echo "umask=$(umask)"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": workflow})
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    env.pop("LOCKGATE_DAEMON", None)
    subprocess.run([LOCKGATE, "version"], env=env, check=True, capture_output=True)
    deadline = time.monotonic() + UP
    while not list(runtime.glob("lockgate-*[!k]")):
        assert time.monotonic() < deadline, "the server never came up"
        time.sleep(0.1)
    client = subprocess.Popen(
        [
            "nice",
            "-n",
            "7",
            "sh",
            "-c",
            f"umask 027; ulimit -n 500; exec {LOCKGATE} run --no-cache",
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = client.communicate(timeout=120)
    assert client.returncode == 0, stderr
    runs = json.loads(
        subprocess.run(
            [LOCKGATE, "runs", "-o", "json"], cwd=repo, env=env, capture_output=True, text=True
        ).stdout
    )
    assert runs[0]["pid"] != client.pid, "the command ran in-process, not in the server"
    logs = subprocess.run(
        [LOCKGATE, "logs", "1"], cwd=repo, env=env, capture_output=True, text=True
    ).stdout
    assert "nice=7" in logs and "files=500" in logs and "umask=0027" in logs


def test_the_server_refuses_another_users_connection(tmp_path: Path) -> None:
    need(os.getuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    shared = Path(tempfile.mkdtemp())  # reachable by others, as a careless setup would be
    shared.chmod(0o755)
    address = shared / "sock"
    server = subprocess.Popen(
        [sys.executable, "-m", "lockgate.cli.daemon", str(address), "30"],
        cwd="/",
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + UP
        while not address.exists():
            assert time.monotonic() < deadline, "the server never came up"
            time.sleep(0.05)
        address.chmod(0o777)
        client = (
            "import json,socket,struct,sys\n"
            "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
            "r=json.dumps({'argv':['lockgate','version'],'cwd':'/','env':{},'umask':18,"
            "'nice':0,'limits':{}}).encode()\n"
            "try:\n"
            "    socket.send_fds(s,[struct.pack('!I',len(r))],[0,1,2]); s.sendall(r)\n"
            "    print(repr(s.recv(100)))\n"
            "except OSError:\n"
            "    print('closed')\n"
        )
        done = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-c",
                client,
                str(address),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() in ("b''", "closed"), "another user's command was started"
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(shared, ignore_errors=True)
