"""Bad workflows give one clear message with file:line:col and a hint, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.workflow.loader import load_workflow

from ..conftest import lockgate, make_repo


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "wf.yml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        load_workflow(path, "wf.yml")
    return str(caught.value)


def test_on_is_a_key_not_true(tmp_path: Path) -> None:
    path = tmp_path / "wf.yml"
    path.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: x\n"
    )
    wf = load_workflow(path)
    assert wf.model.on.push is not None


def test_unknown_key_names_position_and_allowed_keys(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n",
    )
    assert message.startswith("wf.yml:5:5: Unexpected value 'stepz'")
    assert "allowed here:" in message and "steps" in message


def test_missing_runs_on(tmp_path: Path) -> None:
    message = _error(tmp_path, "on: push\njobs:\n  build:\n    steps:\n      - run: x\n")
    # GitHub names the job's mapping (its first key), as here.
    assert message.startswith("wf.yml:4:5: Required property is missing: runs-on")
    assert "hint: add `runs-on: ubuntu-latest`" in message


def test_step_needs_run_or_uses(tmp_path: Path) -> None:
    message = _error(
        tmp_path, "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - name: nothing\n"
    )
    assert message.startswith("wf.yml:6:9: There's not enough info to determine what you meant")
    assert "run" in message and "uses" in message


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    message = _error(tmp_path, "on: push\njobs:\n  a: [unclosed\n")
    assert message.startswith("wf.yml:4:1: invalid YAML")


def test_expression_context_not_allowed_here(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        "on: push\njobs:\n  a:\n    runs-on: x\n    if: secrets.token != ''\n"
        "    steps:\n      - run: echo\n",
    )
    assert message.startswith("wf.yml:5:9: Unrecognized named-value: 'secrets'")
    assert "contexts available here: github, inputs, needs, vars" in message


def test_expression_syntax_error(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ 1 < }}\n",
    )
    assert "wf.yml:6:19: Unexpected end of expression" in message  # where `${{` stands


def test_unknown_event_and_unknown_need(tmp_path: Path) -> None:
    assert "Unexpected value 'pushh'" in _error(
        tmp_path, "on: pushh\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: x\n"
    )
    message = _error(
        tmp_path,
        "on: push\njobs:\n  a:\n    needs: b\n    runs-on: x\n    steps:\n      - run: x\n"
        "  c:\n    runs-on: x\n    steps: [{run: x}]\n",
    )
    assert "wf.yml:4:12: Job 'a' depends on unknown job 'b'." in message


@pytest.mark.integration
def test_cli_reports_cycle_and_exits_2(tmp_path: Path) -> None:
    wf = """on: push
jobs:
  start:
    runs-on: x
    steps: [{run: echo}]
  a:
    needs: [start, c]
    runs-on: x
    steps: [{run: echo}]
  b:
    needs: a
    runs-on: x
    steps: [{run: echo}]
  c:
    needs: b
    runs-on: x
    steps: [{run: echo}]
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/c.yml": wf})
    done = lockgate("run", cwd=repo)
    assert done.returncode == 2
    # Every problem is reported, each at its own line:col.
    assert ".github/workflows/c.yml:7:20: Job 'a' depends on job 'c'" in done.stderr
    assert "c.yml:11:12: Job 'b' depends on job 'a' which creates a cycle" in done.stderr
    assert "c.yml:15:12: Job 'c' depends on job 'b' which creates a cycle" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_cli_bad_flag_values_exit_2(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"x": "y"})
    done = lockgate("run", "-s", "NOEQUALS", cwd=repo)
    assert done.returncode == 2 and "'NOEQUALS' is not K=V" in done.stderr.replace("KEY", "K")
    done = lockgate("run", cwd=repo)
    assert done.returncode == 2 and ".github/workflows does not exist" in done.stderr


def test_no_job_without_needs(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        "on: push\njobs:\n  a:\n    needs: a\n    runs-on: x\n    steps: [{run: x}]\n",
    )
    assert message.startswith("wf.yml:3:3: The workflow must contain at least one job with no")


def test_every_problem_is_reported(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: x\n"
        "        shel: bash\n  b:\n    runs-on: x\n    timeout-minutes: soon\n"
        "    steps: [{uses: badrepo@v1}]\n",
    )
    assert message.startswith("wf.yml:7:9: Unexpected value 'shel'")
    assert "wf.yml:10:22: Unexpected value 'soon'" in message


def test_invalid_ids_and_uses(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        "on: push\njobs:\n  my.job:\n    runs-on: x\n    steps:\n      - id: s\n"
        "        run: x\n      - id: S\n        uses: badrepo@v1\n",
    )
    assert message.startswith("wf.yml:3:3: The identifier 'my.job' is invalid")
    assert "wf.yml:8:13: The identifier 'S' may not be used more than once" in message
    assert "wf.yml:9:15: Expected format {org}/{repo}[/path]@ref. Actual 'badrepo@v1'" in message
