"""astral-sh/setup-uv: uv from PyPI's wheels (sha256 checked) into the tool cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.actions.setup_uv import wheel_for

from ..conftest import jobs_by_key, lockgate, make_repo

WORKFLOW = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.uv.outputs.uv-version }}
      ran: ${{ steps.v.outputs.ran }}
    steps:
      - id: uv
        uses: astral-sh/setup-uv@v6
        with:
          version: "0.5.x"
          enable-cache: true
      - id: v
        run: echo "ran=$(uv --version | cut -d' ' -f2) $(command -v uv)" >> "$GITHUB_OUTPUT"
"""


@pytest.mark.integration
def test_uv_from_pypi_first_on_path(tmp_path: Path, tool_cache: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": WORKFLOW})
    done = lockgate("run", "--no-cache", "-o", "json", cwd=repo, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = jobs_by_key(json.loads(done.stdout))["t"]["outputs"]
    assert outputs["version"].startswith("0.5.")
    ran, path = outputs["ran"].split()
    assert ran == outputs["version"] and path.startswith(str(tool_cache / "uv"))
    again = lockgate("run", "--no-cache", "--offline", "-o", "json", cwd=repo)
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_manylinux_wheel_for_this_machine_is_chosen() -> None:
    files = [
        {"filename": "uv-1.0-py3-none-musllinux_1_1_x86_64.whl"},
        {"filename": "uv-1.0-py3-none-manylinux_2_17_x86_64.whl"},
        {"filename": "uv-1.0-py3-none-manylinux_2_17_aarch64.whl"},
        {"filename": "uv-1.0.tar.gz"},
    ]
    chosen = wheel_for(files)
    assert chosen is not None and "manylinux" in chosen["filename"]


@pytest.mark.integration
def test_the_version_pyproject_requires_and_an_activated_venv(
    tmp_path: Path, tool_cache: Path
) -> None:
    wf = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.uv.outputs.uv-version }}
      venv: ${{ steps.uv.outputs.venv }}
    steps:
      - uses: actions/checkout@v4
      - id: uv
        uses: astral-sh/setup-uv@v6
        with: {activate-environment: true, enable-cache: false}
      - run: echo "prefix=$(python -c 'import sys; print(sys.prefix)') venv=$VIRTUAL_ENV"
"""
    pyproject = (
        '[project]\nname = "p"\nversion = "1"\n\n[tool.uv]\nrequired-version = ">=0.5,<0.6"\n'
    )
    repo = make_repo(
        tmp_path / "repo", {".github/workflows/ci.yml": wf, "pyproject.toml": pyproject}
    )
    done = lockgate("run", "--no-cache", "-o", "json", cwd=repo, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = jobs_by_key(json.loads(done.stdout))["t"]["outputs"]
    assert outputs["version"].startswith("0.5.") and outputs["venv"].endswith("/.venv")
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert f"prefix={outputs['venv']} venv={outputs['venv']}" in logs
