"""The agent on a host and the server that answers the deploying lockgate there, on real
processes: unwanted processes are swept, a booked instance that exited is started again on its
own address only while no deploying lockgate is in touch, a stop is never undone, and requests
naming paths outside the base directory are refused. Also the host book's transitions."""

from __future__ import annotations

import contextlib
import io
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate import hostagent, hostserver, hostside
from lockgate.common.processes import kill_group
from lockgate.deploy.hostbook import HostBook
from lockgate.deploy.targets.base import HostSeen

from .fleet import eventually, processes_of


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(base, fleet) on this machine, with a bundle; every process of the fleet is killed
    afterwards."""
    base = tmp_path / "base"
    where = base / "fleet" / "web"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        info = tarfile.TarInfo("app.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (base / "bundles").mkdir(parents=True)
    (base / "bundles" / "d1.tar.gz").write_bytes(data.getvalue())
    yield base, where
    for pid in processes_of(where).values():
        with contextlib.suppress(ProcessLookupError):
            kill_group(pid)


def _launch(base: Path, fleet: Path, instance_id: str, slot: int) -> hostside.Launch:
    bundle = str(base / "bundles" / "d1.tar.gz")
    return hostside.Launch(str(fleet), instance_id, slot, "d1", bundle, "sleep 60", "127.0.0.1")


def test_unwanted_processes_go_and_the_booked_restart_only_when_alone(
    fleet: tuple[Path, Path],
) -> None:
    base, where = fleet
    said: list[str] = []
    booked = hostagent.start(_launch(base, where, "web-0-a", 0))
    assert hostagent.start(_launch(base, where, "web-0-a", 0)) == booked  # a repeated request
    hostside.start(_launch(base, where, "web-1-b", 1))  # running, but no book wants it
    # A process is known by its environment, which a busy kernel shows a moment after exec.
    eventually(lambda: set(processes_of(where)) == {"web-0-a", "web-1-b"}, 10, "both seen")
    kill_group(booked.pgid)

    def tended() -> bool:
        # Passes as the agent takes them: one may miss a process that is exec-ing its app just
        # then (its environment reads empty for that moment; seen in CI).
        hostagent.contact(base)  # a deploying lockgate is in touch: it supervises
        hostagent.tend(base, time.time(), said.append)
        return processes_of(where) == {}

    eventually(tended, 10, "the unbooked one gone, the booked not back")
    assert any("web-1-b" in text for text in said)
    alone = time.time() + hostagent.CONTROLLER_AWAY + 1
    hostagent.tend(base, alone, said.append)
    again = hostagent.read_book(where)["web-0-a"]
    assert again.pgid != booked.pgid and again.alive() and again.restarts == 1
    assert again.address == booked.address  # on its own address: the router's record holds
    assert hostagent.pgids(where) == {"web-0-a": again.pgid}
    hostagent.tend(base, alone, said.append)  # alive: left alone
    assert hostagent.read_book(where)["web-0-a"].pgid == again.pgid


def test_a_stop_is_not_undone(fleet: tuple[Path, Path]) -> None:
    base, where = fleet
    entry = hostagent.start(_launch(base, where, "web-0-a", 0))
    hostagent.stop(where, "web-0-a", entry.pgid, 15)
    # Every process of the instance gone (a leader can be reaped before its last child).
    eventually(lambda: not entry.alive() and processes_of(where) == {}, 10, "it stopped")
    hostagent.tend(base, time.time() + 60, lambda _: None)  # long after: restarts were due
    assert hostagent.read_book(where) == {} and processes_of(where) == {}


def test_instances_stopped_the_moment_they_start_all_stop(fleet: tuple[Path, Path]) -> None:
    """A stop that lands while bash is still exec-ing the app (its environment reads empty for
    a moment) is not taken for another process's: each of these stops lands."""
    base, where = fleet
    for n in range(20):
        entry = hostagent.start(_launch(base, where, f"web-{n}-a", n))
        hostagent.stop(where, f"web-{n}-a", entry.pgid, 15)
    eventually(lambda: processes_of(where) == {}, 10, "every instance stopped")


def test_a_process_with_no_environment_is_not_an_instance() -> None:
    """An empty environment that stays empty (a process started with `env -i`) is not read as
    the instance's: a reused process id is never signalled."""
    stranger = subprocess.Popen(["env", "-i", "sleep", "30"], start_new_session=True)
    try:
        assert not hostside.belongs(stranger.pid, "web-0-a")
    finally:
        stranger.kill()
        stranger.wait()


def test_the_host_server_refuses_paths_outside_its_base(fleet: tuple[Path, Path]) -> None:
    base, where = fleet
    for named in ("/etc", str(base / "fleet"), str(base / "fleet" / ".." / ".." / "x")):
        with pytest.raises(hostserver.BadRequest):
            hostserver.answer(base, {"op": "sweep", "fleet": named, "keep": []})
    assert hostserver.answer(base, {"op": "sweep", "fleet": str(where), "keep": []}) == {
        "stopped": []
    }


def test_a_book_that_is_not_ours_sweeps_nothing(fleet: tuple[Path, Path]) -> None:
    base, where = fleet
    hostagent.start(_launch(base, where, "web-0-a", 0))
    eventually(lambda: set(processes_of(where)) == {"web-0-a"}, 10, "it is seen")
    (where / hostagent.BOOK).write_text("{not json")
    said: list[str] = []
    hostagent.tend(base, time.time(), said.append)
    # Left alone: tend says each instance it sweeps, and it said nothing else.
    assert len(said) == 1 and "left alone" in said[0], said
    assert set(processes_of(where)) == {"web-0-a"}


def test_the_host_book_records_changes_only(tmp_path: Path) -> None:
    book = HostBook(tmp_path / "hosts.json")
    assert book.update([HostSeen("a", True, 100.0)], 100.0) == []  # first look, reachable
    (down,) = book.update([HostSeen("a", False, 100.0)], 105.0)
    assert (down.reachable, down.since, down.last_seen) == (False, 105.0, 100.0)
    assert book.update([HostSeen("a", False, 100.0)], 110.0) == []
    other = HostBook(tmp_path / "hosts.json")  # another process reads what was written
    assert [h.name for h in other.down()] == ["a"]
    (back,) = other.update([HostSeen("a", True, 120.0)], 120.0)
    assert back.reachable and back.since == 120.0 and HostBook(tmp_path / "hosts.json").down() == []
