"""Bad state and odd text never give a traceback: a broken or foreign store is one clear error,
and user text is never read as terminal markup."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from ..conftest import lockgate, make_repo, run_json

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["random bytes", "damaged sqlite", "foreign database"])
def test_a_broken_or_foreign_store_is_one_clear_error(tmp_path: Path, kind: str) -> None:
    repo = make_repo(tmp_path / "repo", {"x": "y"})
    db = repo / ".lockgate" / "lockgate.db"
    db.parent.mkdir()
    if kind == "random bytes":
        db.write_bytes(os.urandom(40000))
    elif kind == "damaged sqlite":
        db.write_bytes(b"SQLite format 3\x00" + os.urandom(5000))
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("create table accounts(id integer)")
            conn.execute("insert into accounts values (42)")
    before = db.read_bytes()
    for command in (["runs"], ["run", "--list"], ["show", "1"]):
        done = lockgate(*command, cwd=repo)
        assert done.returncode == 2, (command, done.stderr)
        assert "not a usable lockgate store" in done.stderr and str(db) in done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    if kind == "foreign database":  # its tables and data are untouched (no lockgate tables)
        with sqlite3.connect(db) as conn:
            tables = [r[0] for r in conn.execute("select name from sqlite_master")]
            assert tables == ["accounts"]
            assert conn.execute("select id from accounts").fetchall() == [(42,)]
    else:
        assert db.read_bytes() == before, "the file was changed"


def test_markup_in_names_and_annotations_is_shown_as_text(tmp_path: Path) -> None:
    wf = """
name: "[bold]wf[/]"
on: push
jobs:
  a:
    name: "[/] weird [red]job"
    runs-on: ubuntu-latest
    steps:
      - name: "[/]"
        run: echo "::warning title=[/]::[/] in a message [bold]"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/m.yml": wf})
    code, report = run_json(repo)
    assert code == 0, report
    plain = lockgate("run", "--no-cache", cwd=repo)
    assert plain.returncode == 0 and "Traceback" not in plain.stderr
    assert "[/] weird [red]job" in plain.stdout
    shown = lockgate("show", "1", cwd=repo)
    assert shown.returncode == 0 and "[/] in a message [bold]" in shown.stdout
    assert lockgate("runs", cwd=repo).returncode == 0
    plan = lockgate("run", "--list", cwd=repo)
    assert plan.returncode == 0 and "[bold]wf[/]" in plan.stdout
    assert json.loads(lockgate("show", "1", "-o", "json", cwd=repo).stdout)["jobs"]
