"""The probes that once broke lockgate, each now refused cleanly (see SECURITY.md)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.common.names import checked_name
from lockgate.engine.matrix import MatrixError, expand
from lockgate.workflow.expressions import ExpressionError, evaluate

from ..conftest import jobs_by_key, lockgate, make_repo, run_json
from .fleet import EXAMPLE_APP, Fleets, deploy


def _crafted_bundle(repo: Path) -> str:
    """A bundle with a valid app manifest and a member that climbs out: stored by its digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("lockgate-app.yaml", "app.py"):
            data = (EXAMPLE_APP / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        evil = tarfile.TarInfo("../../../../escaped-by-bundle")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    store = repo / ".lockgate" / "bundles"
    store.mkdir(parents=True, exist_ok=True)
    (store / f"{digest}.tar.gz").write_bytes(data)
    return digest


@pytest.mark.integration
def test_a_crafted_bundle_is_refused_and_blocks_nothing(tmp_path: Path, fleets: Fleets) -> None:
    repo, _ = fleets(1, "rolling")
    digest = _crafted_bundle(repo)
    code, report = deploy(repo, digest)
    assert code == 1 and report["result"] != "succeeded", report
    assert not list(tmp_path.rglob("escaped-by-bundle"))
    assert not list(Path("/tmp").glob("escaped-by-bundle"))
    for command in (["runs"], ["status", "test"]):
        done = lockgate(*command, cwd=repo)
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_names_that_would_be_paths_are_refused() -> None:
    for bad in ("../../x", "a/b", "..", "", ".hidden", "x" * 101):
        with pytest.raises(UserError):
            checked_name(bad, "environment", "env.yaml")
    assert checked_name("prod-eu.1", "environment", "env.yaml") == "prod-eu.1"


@pytest.mark.integration
def test_artifact_names_never_leave_the_run(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  up:
    runs-on: ubuntu-latest
    steps:
      - run: echo x > f.txt
      - uses: actions/upload-artifact@v4
        with: {name: "..", path: f.txt}
  down:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with: {name: "../../..", path: got}
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/a.yml": wf})
    code, report = run_json(repo)
    jobs = jobs_by_key(report)
    assert code == 1
    assert jobs["up"]["conclusion"] == "failure" and jobs["down"]["conclusion"] == "failure"
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert logs.count("invalid artifact name") == 2


def test_a_huge_matrix_is_refused_before_it_is_built() -> None:
    axes = {f"axis{i}": list(range(10)) for i in range(10)}  # 10^10 combinations
    with pytest.raises(MatrixError, match="GitHub allows 256"):
        expand(axes)


def test_deeply_nested_json_is_a_clear_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ExpressionError, match="nest deeper than 64"):
        evaluate("fromJSON(x)", {"x": deep})
    assert evaluate("fromJSON(x)", {"x": json.dumps([[["ok"]]])}) == [[["ok"]]]
