"""A job's process groups: a group id is killed only while it still names the group the job
started (pids are reused), and a step's background output is drained until the job ends."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from lockgate.common.processes import started_at
from lockgate.engine.process import ProcessGroups, exited, stream_process


def test_a_reused_group_id_is_not_ours() -> None:
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        groups = ProcessGroups()
        groups.add(stranger.pid)
        assert groups.ours(stranger.pid, started_at(stranger.pid))
        # The same id recorded for a process that started at another time: a reused pid.
        groups.groups[stranger.pid] = (started_at(stranger.pid) or 0) - 1
        groups.kill_all()
        assert stranger.poll() is None  # left alone
    finally:
        stranger.kill()
        stranger.wait()


def test_a_group_whose_leader_is_gone_is_still_ours() -> None:
    assert ProcessGroups().ours(2**22 + 1, 12345)  # no such process: nothing reused it


def test_a_background_writer_outlives_its_step_until_the_job_ends(tmp_path: Path) -> None:
    """The step ends while its background child keeps writing; the child's writes succeed
    (it is not killed by a closed pipe) and only the step's own lines are delivered."""
    done = tmp_path / "writes"
    script = (
        f"(for i in $(seq 40); do echo late-$i || exit 9; sleep 0.05; done; echo ok > {done}) &"
        "\necho from-the-step\n"
    )
    lines: list[str] = []

    async def main() -> int:
        groups = ProcessGroups()
        code = await stream_process(
            ["bash", "-c", script],
            env={"PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
            on_line=lines.append,
            groups=groups,
            grace=1.0,
        )
        for _ in range(400):  # the job goes on while the child writes
            if done.exists():
                break
            await asyncio.sleep(0.01)
        groups.kill_all()
        return code

    assert asyncio.run(main()) == 0
    assert done.read_text().strip() == "ok"
    # What it wrote once its step had ended is read but not shown.
    assert lines[0] == "from-the-step" and "late-40" not in lines


def test_a_step_already_reaped_ends_without_waiting_for_its_background_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the step's shell exits so fast that asyncio's child watcher reaped it before
    lockgate watches it (pidfd_open finds no such process: that race is played here, as the
    kernel plays it under load), its end is still its exit, not the end of the pipe its
    background child holds."""
    gate = tmp_path / "gate"
    script = f"(while [ ! -e {gate} ]; do sleep 0.01; done; echo late) & exit 3"

    def reaped_already(pid: int, flags: int = 0) -> int:
        raise ProcessLookupError(pid)

    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", script, stdout=asyncio.subprocess.PIPE, start_new_session=True
        )
        monkeypatch.setattr(os, "pidfd_open", reaped_already)
        try:
            return await asyncio.wait_for(exited(proc), 20)
        finally:
            gate.touch()
            assert proc.stdout is not None
            await proc.stdout.read()

    assert asyncio.run(main()) == 3


@pytest.mark.parametrize("turns", range(8))
def test_a_step_cancelled_while_its_process_starts_ends_and_stops_it(
    tmp_path: Path, turns: int
) -> None:
    """Cancelled a few loop turns into starting (the moment a run's SIGTERM may come): the
    step ends at once and its process is stopped. asyncio's own start, cancelled inside,
    waited forever (a server's cut-off run once hung so until its `sleep 120` ended)."""
    started = tmp_path / "pid"

    async def main() -> None:
        groups = ProcessGroups()
        script = f"sleep 60 & echo $! > {started}; wait"  # a child holds the step's output
        step = asyncio.ensure_future(
            stream_process(
                ["bash", "-c", script],
                env=dict(os.environ),
                cwd=tmp_path,
                on_line=lambda _: None,
                groups=groups,
                grace=1.0,
            )
        )
        for _ in range(turns):
            await asyncio.sleep(0)
        step.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(step, 10)  # hung before the fix: TimeoutError
        groups.kill_all()

    asyncio.run(main())
    if started.exists() and started.read_text().strip():
        pid = int(started.read_text())
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), "its process was left running"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
