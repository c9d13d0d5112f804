"""The `lockgate` command's entry point: hand the command to a warm server, like Bazel's client.

Importing lockgate's dependencies (SQLAlchemy, pydantic, typer, rich) takes about half a second,
more than a cached rerun of a whole pipeline needs. So this module imports only the standard
library: it passes argv, cwd, environment, umask, nice value, resource limits and its
stdin/stdout/stderr to a server process that has everything imported already, which forks a
child to run the command as if it were this process, and relays signals and the exit code.
Without a server it starts one for the next command and runs this one in-process; so does a
command whose limits the server cannot take on. LOCKGATE_DAEMON=0 always runs in-process.
"""

from __future__ import annotations

import marshal
import os
import resource
import signal
import socket
import struct
import sys

from ..common.runtime import socket_for

IDLE_SECONDS = 900  # a server with nothing to do for this long exits
LIMITS = sorted(name for name in dir(resource) if name.startswith("RLIMIT_"))


def main() -> None:
    if os.environ.get("LOCKGATE_DAEMON", "1").lower() in ("0", "no", "off", "false"):
        return run_here()
    try:
        address = socket_path()
    except OSError as exc:  # NotPrivate, or a runtime directory that cannot be made
        print(f"lockgate: not using the warm server: {exc}", file=sys.stderr)
        return run_here()
    code = via_server(address)
    if code is None:
        start_server(address)
        run_here()
    sys.exit(code)


def run_here() -> None:
    from .main import main as in_process

    in_process()


def _package_stamp() -> str:
    """Changes whenever lockgate's code does, so a server never runs stale code."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    newest, count = 0, 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir() and entry.name != "__pycache__":
                    stack.append(entry.path)
                elif entry.name.endswith(".py"):
                    newest = max(newest, entry.stat().st_mtime_ns)
                    count += 1
    return f"{root}|{newest}|{count}"


def socket_path() -> str:
    identity = "|".join([sys.prefix, _package_stamp(), os.environ.get("PYTHONPATH", "")])
    return socket_for("lockgate", identity)


def process_state() -> dict[str, object]:
    """What a forked child must take on to be this process: besides argv, cwd and env."""
    umask = os.umask(0)
    os.umask(umask)
    return {
        "umask": umask,
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "limits": {name: resource.getrlimit(getattr(resource, name)) for name in LIMITS},
    }


def via_server(address: str) -> int | None:
    """The command's exit code, or None when no server took it (nothing has run then)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(address)
        # marshal, not json: the same interpreter reads it, and it costs no import
        request = marshal.dumps(
            {"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ), **process_state()}
        )
        socket.send_fds(conn, [struct.pack("!I", len(request))], [0, 1, 2])
        conn.sendall(request)
        reader = conn.makefile("rb")
        first = reader.readline()
    except OSError:
        conn.close()
        return None
    if not first:
        return None  # the server went away before it started the command
    said, _, pid = first.decode(errors="replace").strip().partition(" ")
    if said != "pid":
        return None  # the server could not take on this process's limits: run here
    child = int(pid)

    def relay(signum: int, _frame: object) -> None:
        try:  # noqa: SIM105  (not contextlib: an import every command would pay for)
            os.kill(child, signum)
        except ProcessLookupError:
            pass  # it has ended: its exit code is on its way

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, relay)
    return _outcome(reader.readline().decode(errors="replace").strip())


def _outcome(last: str) -> int:
    """The exit code the server reported, as a shell reports a command killed by a signal
    (128 + its number), said on stderr when the command could not say it itself."""
    if last.isdigit():
        return int(last)
    kind, _, number = last.partition(" ")
    if kind == "signal" and number.isdigit():
        try:
            name = signal.Signals(int(number)).name
        except ValueError:
            name = f"signal {number}"
        print(f"lockgate: the command was killed by {name}", file=sys.stderr)
        return 128 + int(number)
    print(
        "lockgate: the command ended without an exit code (its server was stopped)", file=sys.stderr
    )
    return 1


def start_server(address: str) -> None:
    """Start a server; when several commands start one at once, all but one exit at once
    (the server holds a lock on ADDRESS.lock for its whole life)."""
    import subprocess

    subprocess.Popen(
        [sys.executable, "-m", "lockgate.cli.daemon", address, str(IDLE_SECONDS)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # never in the terminal's process group: Ctrl-C is not for it
        close_fds=True,
        cwd="/",  # `-m` puts the cwd on sys.path: a repository's files must not shadow modules
    )
