"""An internal error is one line for the user and a crash report, with secrets masked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lockgate.common import crash


def test_internal_error_is_one_line_and_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCKGATE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["lockgate", "run", "-s", "TOKEN=hunter2-secret"])
    try:
        raise RuntimeError("boom with hunter2-secret inside")
    except RuntimeError as exc:
        code = crash.report(exc)
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("lockgate: internal error (RuntimeError: boom with *** inside)")
    assert "Traceback" not in err and "hunter2-secret" not in err
    reports = list((tmp_path / "cache" / "crashes").iterdir())
    assert len(reports) == 1 and str(reports[0]) in err
    text = reports[0].read_text()
    assert "Traceback" in text and "raise RuntimeError" in text
    assert "hunter2-secret" not in text and "TOKEN=***" in text
    assert reports[0].stat().st_mode & 0o077 == 0
