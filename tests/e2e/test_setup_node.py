"""actions/setup-node: Node.js from the npm registry's binary packages, integrity-checked, in
lockgate's tool cache; specs and version files as setup-node reads them."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pytest

from lockgate.actions.node import NodeUnavailable, _check_integrity, lts_major, to_spec
from lockgate.actions.setup_node import version_from_file
from lockgate.actions.versions import Version, best

from ..conftest import jobs_by_key, lockgate, make_repo, need

WORKFLOW = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    outputs:
      setup: ${{ steps.n.outputs.node-version }}
      ran: ${{ steps.v.outputs.ran }}
    steps:
      - uses: actions/checkout@v4
      - id: n
        uses: actions/setup-node@v4
        with:
          node-version-file: .nvmrc
          cache: npm
      - id: v
        run: echo "ran=$(node --version) $(command -v node)" >> "$GITHUB_OUTPUT"
"""


@pytest.mark.integration
def test_node_from_the_registry_first_on_path(tmp_path: Path, tool_cache: Path) -> None:
    need(shutil.which("git") is not None, "git is not installed")
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": WORKFLOW, ".nvmrc": "v22\n"})
    done = lockgate("run", "--no-cache", "-o", "json", cwd=repo, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = jobs_by_key(json.loads(done.stdout))["t"]["outputs"]
    assert outputs["setup"].startswith("v22.")
    version, path = outputs["ran"].split()
    assert version == outputs["setup"]
    assert path.startswith(str(tool_cache / "node"))
    # Offline, the cached toolchain serves.
    again = lockgate("run", "--no-cache", "--offline", "-o", "json", cwd=repo)
    assert again.returncode == 0, again.stdout + again.stderr


def test_integrity_is_checked() -> None:
    dist = {"tarball": "x.tgz", "integrity": "sha512-" + "A" * 86 + "=="}
    with pytest.raises(NodeUnavailable, match="integrity"):
        _check_integrity(b"not the package", dist)
    with pytest.raises(NodeUnavailable, match="no integrity"):
        _check_integrity(b"x", {"tarball": "x.tgz"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20", "20.11.1"),
        ("v18.19.0", "18.19.0"),
        ("^20.1", "20.11.1"),
        ("lts/iron", "20.11.1"),
        ("lts/*", "22.3.0"),
        ("node", "23.1.0"),
        (">=18 <21", "20.11.1"),
    ],
)
def test_node_specs(text: str, expected: str) -> None:
    pool = [Version.parse(v) for v in ("18.19.0", "20.11.1", "22.3.0", "23.1.0")]
    versions = [v for v in pool if v is not None]
    spec = to_spec(text, sorted({v.major for v in versions}), datetime.date(2025, 1, 1))
    assert str(best([spec], versions)) == expected


def test_lts_follows_the_release_calendar() -> None:
    majors = [18, 20, 22, 24]
    assert lts_major(majors, datetime.date(2024, 9, 30)) == 20
    assert lts_major(majors, datetime.date(2024, 10, 1)) == 22
    assert lts_major(majors, datetime.date(2025, 11, 1)) == 24


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (".nvmrc", "v20.11.1\n", "v20.11.1"),
        (".node-version", "# comment\n22\n", "22"),
        ("package.json", '{"engines": {"node": ">=18"}}', ">=18"),
        ("package.json", '{"volta": {"node": "20.1.0"}, "engines": {"node": ">=18"}}', "20.1.0"),
        (".tool-versions", "python 3.12\nnodejs 21.0.0\n", "21.0.0"),
    ],
)
def test_node_version_files(tmp_path: Path, name: str, text: str, expected: str) -> None:
    (tmp_path / name).write_text(text)
    assert version_from_file(tmp_path / name) == expected


@pytest.mark.integration
def test_a_javascript_action_runs_on_the_node_major_it_names(tmp_path: Path) -> None:
    action = """
name: on-24
runs:
  using: node24
  main: index.js
"""
    wf = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    outputs:
      node: ${{ steps.a.outputs.node }}
    steps:
      - uses: actions/checkout@v4
      - id: a
        uses: ./act
"""
    index = (
        "require('fs').appendFileSync(process.env.GITHUB_OUTPUT, `node=${process.version}\\n`)\n"
    )
    repo = make_repo(
        tmp_path / "repo",
        {".github/workflows/ci.yml": wf, "act/action.yml": action, "act/index.js": index},
    )
    done = lockgate("run", "--no-cache", "-o", "json", cwd=repo, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert jobs_by_key(json.loads(done.stdout))["t"]["outputs"]["node"].startswith("v24.")
