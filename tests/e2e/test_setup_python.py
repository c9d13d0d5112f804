"""actions/setup-python: a fresh virtual environment per job; the host's Python is never touched."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lockgate.actions.versions import Spec, Version, best

from ..conftest import jobs_by_key, lockgate, make_repo

HOST = f"{sys.version_info.major}.{sys.version_info.minor}"


def _wheel(directory: Path) -> Path:
    """A tiny wheel with a console script `hello-lockgate`, made by hand (no network)."""
    name = "hello_lockgate-1.0-py3-none-any.whl"
    files = {
        "hello_lockgate.py": "def main():\n    print('hello from the venv')\n",
        "hello_lockgate-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: hello-lockgate\n"
        "Version: 1.0\n",
        "hello_lockgate-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
        "hello_lockgate-1.0.dist-info/entry_points.txt": "[console_scripts]\n"
        "hello-lockgate = hello_lockgate:main\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append("hello_lockgate-1.0.dist-info/RECORD,,")
    target = directory / name
    with zipfile.ZipFile(target, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr("hello_lockgate-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return target


WORKFLOW = """
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        id: py
        with:
          python-version: '{version}'
      - run: pip install --no-index ./hello_lockgate-1.0-py3-none-any.whl
      - id: where
        run: |
          hello-lockgate
          echo "python=$(command -v python)" >> "$GITHUB_OUTPUT"
          echo "version=${{{{ steps.py.outputs.python-version }}}}" >> "$GITHUB_OUTPUT"
    outputs:
      python: ${{{{ steps.where.outputs.python }}}}
      version: ${{{{ steps.where.outputs.version }}}}
"""


@pytest.mark.integration
def test_a_job_gets_its_own_python_and_the_host_is_untouched(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": WORKFLOW.format(version=HOST)})
    _wheel(repo)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    host_before = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=json"], capture_output=True, text=True
    ).stdout
    for _ in range(2):  # a second identical run behaves identically
        done = lockgate("run", "--no-cache", "-o", "json", cwd=repo)
        assert done.returncode == 0, done.stdout + done.stderr
        job = jobs_by_key(json.loads(done.stdout))["test"]
        assert job["outputs"]["version"].startswith(HOST + ".")
        assert "/setup-python/" in job["outputs"]["python"]
        assert not job["outputs"]["python"].startswith(sys.prefix)
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "hello from the venv" in logs
    host_after = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=json"], capture_output=True, text=True
    ).stdout
    assert host_before == host_after
    assert "hello-lockgate" not in host_after


@pytest.mark.integration
def test_a_missing_version_is_one_clear_error(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo", {".github/workflows/ci.yml": WORKFLOW.format(version="2.1")}
    )
    done = lockgate("run", "--no-cache", "--offline", cwd=repo)
    assert done.returncode == 1
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "no installed Python matches python-version '2.1'" in logs
    assert f"CPython {HOST}." in logs  # what was found is listed


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("3.11", "3.11.7"),
        ("3.x", "3.13.0"),
        ("3", "3.13.0"),
        ("3.12.1", "3.12.1"),
        (">=3.9 <3.12", "3.11.7"),
        (">=3.9,<3.12", "3.11.7"),
        ("~=3.10", "3.13.0"),
        ("~3.10", "3.10.13"),
        ("^3.9", "3.13.0"),
        ("3.14", None),
        ("3.14-dev", "3.14.0rc1"),
    ],
)
def test_version_specs(spec: str, expected: str | None) -> None:
    pool = [Version.parse(v) for v in ("3.10.13", "3.11.7", "3.12.1", "3.13.0", "3.14.0rc1")]
    chosen = best([Spec(spec)], [v for v in pool if v is not None])
    assert (str(chosen) if chosen else None) == expected


def test_prereleases_only_when_allowed() -> None:
    pool = [Version(3, 14, 0, "rc1"), Version(3, 13, 1)]
    assert best([Spec("3.14")], pool) is None
    assert best([Spec("3.14")], pool, prereleases=True) == Version(3, 14, 0, "rc1")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (".python-version", "3.12.1\n", ["3.12.1"]),
        (".python-version", "# pinned\n3.11\n", ["3.11"]),
        ("pyproject.toml", '[project]\nrequires-python = ">=3.10"\n', [">=3.10"]),
        ("pyproject.toml", '[tool.poetry.dependencies]\npython = "^3.9"\n', ["^3.9"]),
        (".tool-versions", "nodejs 20.1.0\npython 3.12.2\n", ["3.12.2"]),
    ],
)
def test_python_version_files(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    from lockgate.actions.setup_python import _version_file

    (tmp_path / name).write_text(text)
    assert _version_file(tmp_path / name) == expected


def test_update_environment_false_leaves_path_alone(tmp_path: Path) -> None:
    """As hynek/build-and-inspect-python-package relies on: the interpreter is only in the
    step's outputs, PATH and pythonLocation are untouched."""
    wf = f"""
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        id: py
        with:
          python-version: '{HOST}'
          update-environment: false
      - run: |
          echo "first=$(command -v python3)"
          echo "location=${{pythonLocation:-unset}}"
          "${{{{ steps.py.outputs.python-path }}}}" -c 'import sys; print("own", sys.prefix)'
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": wf})
    done = lockgate("run", "--no-cache", cwd=repo)
    assert done.returncode == 0, done.stdout
    assert "location=unset" in done.stdout
    first = next(line for line in done.stdout.splitlines() if "first=" in line)
    assert "/setup-python/" not in first
    assert any("own" in line and "/setup-python/" in line for line in done.stdout.splitlines())


@pytest.mark.integration
def test_pip_install_user_works_as_on_github_and_stays_in_the_job(tmp_path: Path) -> None:
    """The packaging guide's publishing workflow runs `pip install build --user`: a venv refuses
    that. The job's user base is its own, its scripts are on PATH, and the base interpreter's
    own packages stay out of sight."""
    wf = f"""
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: '{HOST}'
      - run: python3 -m pip install --user --no-index ./hello_lockgate-1.0-py3-none-any.whl
      - run: |
          hello-lockgate
          python3 -c 'import hello_lockgate, site; print("user", hello_lockgate.__file__.startswith(site.USER_SITE))'
          python3 -c 'import json, sys; print("path", json.dumps(sys.path))'
          python3 -c 'import sys; print("base", sys.base_prefix)'
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": wf})
    _wheel(repo)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    home_site = Path.home() / ".local" / "lib" / f"python{HOST}" / "site-packages"
    done = lockgate("run", "--no-cache", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any("hello from the venv" in line for line in lines)
    assert any(line.endswith("user True") for line in lines)
    path = json.loads(next(line for line in lines if " path [" in line).split(" path ", 1)[1])
    base = next(line for line in lines if " base /" in line).split(" base ", 1)[1]
    leaked = [
        p for p in path if p.startswith(base) and p.endswith(("site-packages", "dist-packages"))
    ]
    assert leaked == [], leaked
    assert not (home_site / "hello_lockgate.py").exists()
