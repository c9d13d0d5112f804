"""Child processes in their own process group, streamed line by line, killed as a group."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..common.processes import JOB_MARKER, group_alive, kill_group, kill_marked, started_at


async def terminate_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after `grace` seconds."""
    kill_group(pgid, signal.SIGTERM)
    deadline = asyncio.get_running_loop().time() + grace
    while group_alive(pgid) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    kill_group(pgid, signal.SIGKILL)


MAX_LINE = 16 * 1024 * 1024
CONTINUED = " [line continues]"


class ProcessGroups:
    """Every process a job started: killed when the job ends, so nothing is orphaned. Each
    carries the job's marker, so those that left their group (setsid, double fork) go too.

    The output of a step's background processes is read until the job ends (then discarded):
    a server started with `cmd &` keeps writing its request log after its step, as on GitHub.
    """

    def __init__(self) -> None:
        self.groups: dict[int, int | None] = {}  # process group id -> its leader's start time
        self.marker = f"{JOB_MARKER}={uuid.uuid4().hex}"
        self.drains: list[tuple[asyncio.Future[None], asyncio.BaseTransport | None]] = []

    def add(self, pid: int) -> None:
        self.groups[pid] = started_at(pid)

    def ours(self, pgid: int, started: int | None) -> bool:
        """Whether the group id still names the group this job started. A pid cannot be
        reused while a group of that id lives; once the group is gone it can, so a live leader
        must be the one that was recorded."""
        now = started_at(pgid)
        return now is None or now == started

    def keep_draining(self, reader: asyncio.Future[None], proc: asyncio.subprocess.Process) -> None:
        self.drains.append((reader, getattr(proc, "_transport", None)))

    def kill_all(self) -> None:
        for pgid, started in self.groups.items():
            if self.ours(pgid, started):
                kill_group(pgid)
        self.groups.clear()
        kill_marked(self.marker)
        for reader, transport in self.drains:
            reader.cancel()
            # asyncio's Process has no public close; its transport would complain at exit.
            if transport is not None:
                transport.close()
        self.drains.clear()


async def exited(proc: asyncio.subprocess.Process) -> int:
    """The exit code as soon as the process exits. (asyncio's wait() also waits for its pipes
    to close, which a background child holding stdout would delay forever.)"""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except ProcessLookupError:  # it exited, and asyncio's child watcher reaped it already
        return await _reaped(proc)
    except (AttributeError, OSError):  # no pidfd (old kernel): asyncio's own wait
        return await proc.wait()
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await gone
        # Read the status without reaping (WNOWAIT): asyncio's child watcher still reaps it.
        info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOWAIT)
        if info is not None:
            exited = info.si_code == os.CLD_EXITED
            return int(info.si_status) if exited else -int(info.si_status)
    except (AttributeError, OSError):
        pass  # no P_PIDFD here: wait for the watcher's report
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return await _reaped(proc)


async def _reaped(proc: asyncio.subprocess.Process) -> int:
    """The exit code once asyncio's child watcher has reaped the process (in a moment: it
    has exited). Not proc.wait(), which also waits for the pipes a background child holds."""
    while proc.returncode is None:
        await asyncio.sleep(0.001)
    return proc.returncode


async def _started(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path
) -> tuple[asyncio.subprocess.Process, bool]:
    """The process, started whole even when the step is cancelled meanwhile; (it, whether it
    was). asyncio cannot be cancelled while it starts one: Python 3.11 then waits forever for
    the pipes it never connected, and the run hangs (seen: SIGTERM just as a step started)."""
    starting = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            cwd=str(cwd),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            limit=1 << 20,
        )
    )
    cancelled = False
    while True:
        try:
            return await asyncio.shield(starting), cancelled
        except asyncio.CancelledError:
            if starting.done() and starting.cancelled():
                raise
            cancelled = True  # the shield took it: finish starting, then stop it


async def stream_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    on_line: Callable[[str], None],
    groups: ProcessGroups,
    grace: float,
    cut: Callable[[str], int] = len,
) -> int:
    """Run to completion, feeding each output line (stdout and stderr merged) to `on_line`.

    A line up to MAX_LINE characters is delivered whole; a longer one in marked parts, each
    cut where `cut` says no secret is split. Cancellation kills the whole group with
    SIGTERM, then SIGKILL.
    """
    proc, cancelled = await _started(argv, env, cwd)
    groups.add(proc.pid)
    assert proc.stdout is not None
    stdout = proc.stdout
    step_running = True

    def emit(line: str) -> None:
        if step_running:
            on_line(line)

    async def pump() -> None:
        pending = ""  # the part of an overlong line not yet emitted
        while True:
            try:
                raw = await stdout.readuntil(b"\n")
                ended = True
            except asyncio.IncompleteReadError as end:
                raw, ended = end.partial, True
            except asyncio.LimitOverrunError as over:
                raw, ended = await stdout.read(over.consumed or 1 << 20), False
            if not raw and not pending:
                return
            text = pending + raw.decode("utf-8", "replace")
            if ended:
                pending = ""
                if text or raw:
                    emit(text.rstrip("\r\n"))
                if not raw:
                    return
                continue
            if len(text) < MAX_LINE:
                pending = text  # held whole, so secrets in it are masked whole
                continue
            at = cut(text) or len(text)
            emit(text[:at] + CONTINUED)
            pending = text[at:]

    reader = asyncio.ensure_future(pump())
    try:
        if cancelled:
            raise asyncio.CancelledError  # while it started: it is stopped as any step is
        code = await exited(proc)
        # A background child may hold the pipe open: the step does not wait for it, and the
        # pipe stays read (its writes must not fail) until the job ends.
        try:
            await asyncio.wait_for(asyncio.shield(reader), 0.5)
        except TimeoutError:
            step_running = False
            groups.keep_draining(reader, proc)
        return code
    except asyncio.CancelledError:
        # Its output is read (and dropped) until the job ends, so nothing it left blocks on a
        # full pipe; its exit is awaited by pidfd, not by wait(), which waits for the pipe.
        step_running = False
        groups.keep_draining(reader, proc)
        await terminate_group(proc.pid, grace)
        await exited(proc)
        raise
