"""Two servers on two machines sharing one store (the second machine's hostname through a UTS
namespace, as root can make one): a run whose server is killed with -9 mid-run is taken over
by the server on the other machine once the dead one's lease runs out (its process cannot be
seen from there), and finishes there; the cut-off run shows interrupted."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from ..conftest import need
from .fleet import eventually
from .serving import Server, bare_repository, dispatch, register, servers, start_server

__all__ = ["servers"]  # the fixture
pytestmark = pytest.mark.integration

HELD = """on: workflow_dispatch
jobs:
  held:
    runs-on: ubuntu-latest
    steps:
      - name: until the test lets it go
        run: for i in $(seq 1200); do test -e {go} && exit 0; sleep 0.1; done; exit 1
"""
OTHER_MACHINE = ("unshare", "--uts", "--", "sh", "-c", 'hostname machine-a && exec "$0" "$@"')


def _items(server: Server) -> list[dict[str, Any]]:
    return list(reversed(server.get("/api/v1/queue")))


def test_a_run_whose_server_died_on_another_machine_is_taken_over(
    servers: list[Server], tmp_path: Path
) -> None:
    need(shutil.which("unshare") is not None and os.geteuid() == 0,
         "a second hostname needs unshare --uts, as root")  # fmt: skip
    go = tmp_path / "go"
    _, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": HELD.replace("{go}", str(go))})
    store = ("--db", f"sqlite:///{tmp_path / 'shared.db'}", "--lost-after", "3")
    first = start_server(tmp_path / "a", 1, *store, wrap=OTHER_MACHINE)
    servers.append(first)
    register(first, bare)
    assert dispatch(first, bare, first.token).status_code == 201
    eventually(lambda: _items(first)[0]["status"] == "running", 60, "the run on machine-a")
    assert _items(first)[0]["worker"].startswith("machine-a:")
    second = start_server(tmp_path / "b", 1, *store)
    servers.append(second)
    here, started = socket.gethostname(), time.time()
    # machine-a renews its lease (every second, of 3): the second server's reaper, passing
    # every second, leaves a run alone while its lease holds
    eventually(lambda: _items(second)[0]["lease_until"] > started + 6, 60, "renewals")
    (held,) = _items(second)
    assert held["status"] == "running" and held["worker"].startswith("machine-a:")
    # machine-a is gone at once, with its server and the run's process: the run's process is
    # frozen first, so the signal its dying server sends it finds nothing to do
    pid = second.get("/api/v1/runs")[0]["pid"]
    os.kill(pid, signal.SIGSTOP)
    first.process.kill()
    first.process.wait()
    os.kill(pid, signal.SIGKILL)

    def taken_over() -> bool:
        items = _items(second)
        return len(items) == 2 and items[1]["status"] == "running"

    eventually(taken_over, 60, "machine-b to take the run over")
    cut, again = _items(second)
    assert cut["status"] == "interrupted"
    assert cut["message"] == (
        "its server stopped while it ran; queued again: .github/workflows/ci.yml"
    )
    assert again["worker"].startswith(f"{here}:")
    go.write_text("")
    eventually(lambda: _items(second)[1]["status"] == "done", 120, "the run to finish")
    assert _items(second)[1]["exit_code"] == 0
    finished, cut_off = second.get("/api/v1/runs")  # newest first
    assert (finished["status"], finished["conclusion"]) == ("completed", "success")
    assert cut_off["status"] == "interrupted"  # nobody on its machine is left to say so
