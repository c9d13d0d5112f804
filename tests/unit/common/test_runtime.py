"""Socket paths stay short enough for a Unix socket, however deep the runtime directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from lockgate.common.runtime import socket_for


def test_a_runtime_directory_too_deep_for_a_socket_falls_back_to_a_short_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    path = socket_for("lockgate", "/some/installation")
    assert path.startswith(f"/tmp/lockgate-{os.getuid()}/lockgate-")
    assert len(path.encode()) + len(".4194304") <= 107
    with tempfile.TemporaryDirectory(prefix="lg") as short:  # /tmp/lgXXXXXXXX: room enough
        monkeypatch.setenv("XDG_RUNTIME_DIR", short)
        assert socket_for("lockgate", "/some/installation").startswith(f"{short}/lockgate-")
