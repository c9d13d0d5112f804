"""lockgate.hostside never signals a process group that is not the instance's: process ids are
reused (pid_max is often 32768), so a recorded process group id may name a stranger."""

from __future__ import annotations

import os
import subprocess
import time

from lockgate import hostside


def _started(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)


def test_a_stranger_with_a_recorded_id_is_left_alone() -> None:
    stranger = _started({**os.environ})
    try:
        assert not hostside.belongs(stranger.pid, "web-0-abc")
        assert not hostside.alive(stranger.pid, "web-0-abc")  # not "our instance, alive"
        hostside.kill(stranger.pid, "web-0-abc")
        hostside.stop(stranger.pid, "web-0-abc", 15)
        time.sleep(0.2)
        assert stranger.poll() is None  # still running: it was never ours
    finally:
        stranger.kill()
        stranger.wait()


def test_the_instance_itself_is_stopped() -> None:
    ours = _started({**os.environ, "LOCKGATE_INSTANCE_ID": "web-0-abc"})
    assert hostside.belongs(ours.pid, "web-0-abc") and hostside.alive(ours.pid, "web-0-abc")
    hostside.kill(ours.pid, "web-0-abc")
    assert ours.wait(timeout=10) == -9
    assert hostside.belongs(ours.pid, "web-0-abc")  # gone: its group's leftovers are its own
    assert not hostside.alive(ours.pid, "web-0-abc")
