"""The warm server behind `lockgate` (see launcher.py): imports everything once, then forks a
child per command that becomes that command's process: its cwd, environment, stdio and argv.

Run as `python -m lockgate.cli.daemon SOCKET IDLE_SECONDS`; the launcher starts it.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import io
import marshal
import os
import resource
import signal
import socket
import struct
import sys
import tempfile
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store import Store


def _warm_imports() -> None:
    # The point of the server: pay for these imports once, not per command.
    # Sampled in lockgate's own suite, commands spent a quarter of their time importing what
    # this list lacked: the SQLite dialect (loaded at the first connection), the deploy
    # service and the web server.
    import sqlite3  # noqa: F401  (SQLAlchemy's dialect imports it at the first connection)

    import alembic.command  # noqa: F401
    import httpx  # noqa: F401
    import rich.markdown
    import rich.table  # noqa: F401
    import sqlalchemy.dialects.sqlite  # noqa: F401

    from ..deploy import service  # noqa: F401
    from ..engine.cache import jobcache  # noqa: F401
    from ..server import serve as web  # noqa: F401
    from . import main
    from .views import LiveView  # noqa: F401

    main.command()
    _warm_store()


def _warm_store() -> None:
    """SQLAlchemy builds much per kind of statement the first time it compiles or runs one
    (cache-key and compiler dispatch, the SQLite dialect's setup). A forked command would build
    it again every time: a run's worth of records in a throwaway store builds it here, once."""
    from ..store import Store

    with tempfile.TemporaryDirectory(prefix="lockgate-warm-") as scratch:
        store = Store(f"sqlite:///{scratch}/warm.db")
        try:
            _one_run(store)
        finally:
            store.engine.dispose()


def _one_run(store: Store) -> None:
    from ..store.records import Conclusion, Status

    store.mark_interrupted()
    store.job_history("warm.yml")
    run = store.create_run(workflow="warm", workflow_file="warm.yml", event="push", sha="0" * 40,
                           ref="refs/heads/main", branch="main", dirty=False, actor="lockgate",
                           repo_dir="/", trigger_id=None)  # fmt: skip
    with store.batch():
        job = store.create_job(run, key="warm", job_id="warm", name="warm", matrix={},
                               status=Status.QUEUED)  # fmt: skip
        store.update_job(job, started_at=0.0)
        step = store.create_step(job, 1, "warm")
        store.finish_step(step, [(job, 1, 0.0, "warm")], finished_at=0.0)
        store.update_job(job, finished_at=0.0, outputs={}, conclusion=Conclusion.SUCCESS)
    store.finish_run(run, Conclusion.SUCCESS)


def serve(address: str, idle: float) -> None:
    lock = open(f"{address}.lock", "a")  # noqa: SIM115  (held for the server's whole life)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another server for this installation is starting or serving
    _warm_imports()
    # Everything imported so far lives as long as the server: out of the collector's sight,
    # a forked command's collections do not touch (and so copy) the server's pages.
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temporary = f"{address}.{os.getpid()}"
    listener.bind(temporary)
    listener.listen(64)
    os.replace(temporary, address)  # appears only when it accepts, replacing a stale one
    ours = os.stat(address).st_ino
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves
    listener.settimeout(idle)
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return
            if _peer_uid(conn) != os.getuid():
                conn.close()  # the directory is private; this is a second lock on the door
                continue
            if os.fork() == 0:
                listener.close()
                _watch_command(conn)
            conn.close()
    finally:
        with contextlib.suppress(OSError):
            if os.stat(address).st_ino == ours:  # not replaced by a newer server meanwhile
                os.unlink(address)
        listener.close()


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def _take_on(request: dict[str, Any]) -> str | None:
    """Become the client's process: umask, nice value, resource limits. Why not, or None."""
    os.umask(int(request["umask"]))
    try:
        wanted = int(request["nice"])
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if wanted != current:
            os.setpriority(os.PRIO_PROCESS, 0, wanted)
        for name, (soft, hard) in dict(request["limits"]).items():
            kind = getattr(resource, name, None)
            if kind is not None and resource.getrlimit(kind) != (soft, hard):
                resource.setrlimit(kind, (soft, hard))
    except (OSError, ValueError) as exc:
        return str(exc)
    return None


def _receive(conn: socket.socket) -> tuple[dict[str, object], list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, 4, 3)
    (size,) = struct.unpack("!I", header)
    payload = b""
    while len(payload) < size:
        chunk = conn.recv(size - len(payload))
        if not chunk:
            raise ConnectionError("the client went away")
        payload += chunk
    return marshal.loads(payload), fds


def _watch_command(conn: socket.socket) -> None:
    """In a forked child: fork the command and wait for it, so that a command killed by a
    signal (`kill -9`, the OOM killer), which reports nothing itself, is still reported."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        _become_command(conn)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        with contextlib.suppress(OSError):
            conn.sendall(f"signal {os.WTERMSIG(status)}\n".encode())
    os._exit(0)


def _become_command(conn: socket.socket) -> None:
    """In the forked child: take over the client's process state, run, report the exit code."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # asyncio must be able to wait for steps
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 1
    try:
        request, fds = _receive(conn)
        refused = _take_on(request)
        if refused:
            conn.sendall(f"refused {refused}\n".encode())
            os._exit(0)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding="utf-8")  # noqa: SIM115
        sys.stdout = _text_stream(1)
        sys.stderr = _text_stream(2)
        os.chdir(str(request["cwd"]))
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        argv = request["argv"]
        assert isinstance(argv, list)
        sys.argv = [str(a) for a in argv]
        conn.sendall(f"pid {os.getpid()}\n".encode())
        threading.Thread(target=_die_with_client, args=(conn,), daemon=True).start()
        code = _run()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(f"{code}\n".encode())
        os._exit(code)


def _text_stream(fd: int) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        open(fd, "wb", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=os.isatty(fd),
    )


def _run() -> int:
    from ..common import crash
    from . import main as cli  # imported by the server already: free here

    try:
        cli.main()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # main() reports its own; this is for anything it let through
        return crash.report(exc)
    return 0


def _die_with_client(conn: socket.socket) -> None:
    """The client never writes again: end of file means it was killed, so this dies too."""
    with contextlib.suppress(OSError):
        while conn.recv(1):
            pass
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]))
