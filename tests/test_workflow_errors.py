"""Bad workflows give one clear message with file:line:col and a hint, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.errors import UserError
from lockgate.workflow.loader import load_workflow

from .conftest import lockgate, make_repo


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
    assert message.startswith("wf.yml:5:5: unknown key 'stepz' in job 'a'")
    assert "allowed keys:" in message and "steps" in message


def test_missing_runs_on(tmp_path: Path) -> None:
    message = _error(tmp_path, "on: push\njobs:\n  build:\n    steps:\n      - run: x\n")
    assert message.startswith("wf.yml:3:3: job 'build' is missing required key 'runs-on'")
    assert "hint: add `runs-on: ubuntu-latest`" in message


def test_step_needs_run_or_uses(tmp_path: Path) -> None:
    message = _error(
        tmp_path, "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - name: nothing\n"
    )
    assert "wf.yml:6:" in message and "exactly one of `run:` or `uses:`" in message


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
    assert "wf.yml:6:14: Unexpected end of expression" in message


def test_unknown_event_and_unknown_need(tmp_path: Path) -> None:
    assert "unknown event 'pushh'" in _error(
        tmp_path, "on: pushh\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: x\n"
    )
    message = _error(
        tmp_path,
        "on: push\njobs:\n  a:\n    needs: b\n    runs-on: x\n    steps:\n      - run: x\n",
    )
    assert "job 'a' needs 'b', which does not exist" in message


@pytest.mark.integration
def test_cli_reports_cycle_and_exits_2(tmp_path: Path) -> None:
    wf = """on: push
jobs:
  a:
    needs: c
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
    assert "jobs form a cycle: a -> c -> b -> a" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_cli_bad_flag_values_exit_2(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"x": "y"})
    done = lockgate("run", "-s", "NOEQUALS", cwd=repo)
    assert done.returncode == 2 and "'NOEQUALS' is not K=V" in done.stderr.replace("KEY", "K")
    done = lockgate("run", cwd=repo)
    assert done.returncode == 2 and ".github/workflows does not exist" in done.stderr
