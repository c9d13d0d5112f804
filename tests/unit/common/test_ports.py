"""Ports handed out are reserved for a while, across processes: two instances started side by
side never get the same port (the kernel offers a port just probed to the next asker)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.common.ports import PORTS_FILE, free_port


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    private = tmp_path / "run"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(private))
    return private


def test_many_ports_in_a_row_are_all_different(runtime: Path) -> None:
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
    assert len(json.loads((runtime / PORTS_FILE).read_text())) == 500


def test_processes_side_by_side_share_the_reservations(runtime: Path) -> None:
    code = "from lockgate.common.ports import free_port; print([free_port() for _ in range(150)])"
    children = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    handed = [port for child in children for port in json.loads(child.communicate()[0])]
    assert len(handed) == 450 and len(set(handed)) == 450


def test_a_damaged_reservations_file_is_started_afresh(runtime: Path) -> None:
    runtime.mkdir(mode=0o700)
    (runtime / PORTS_FILE).write_text("{not json")
    port = free_port()
    assert list(json.loads((runtime / PORTS_FILE).read_text())) == [f"127.0.0.1:{port}"]
