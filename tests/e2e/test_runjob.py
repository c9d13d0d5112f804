"""A queued run's process (`python -m lockgate.server.runjob REQUEST OUTCOME`), as a worker
starts it: a real repository, a real store, and nothing but the outcome file to read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lockgate.server.runjob import RunOutcome, RunRequest
from lockgate.store import Store
from lockgate.store.records import Conclusion

from ..conftest import git, make_repo

pytestmark = pytest.mark.integration

WORKFLOW = """
on:
  push:
  workflow_dispatch:
    inputs:
      mode: {type: string, default: normal}
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "actor=$GITHUB_ACTOR token=${{ secrets.TOKEN }} mode=${{ inputs.mode }}"
          test "${{ inputs.mode }}" != broken
"""


def _run(tmp_path: Path, **fields: object) -> tuple[subprocess.CompletedProcess[str], Path]:
    repo = make_repo(tmp_path / "checkout", {".github/workflows/ci.yml": WORKFLOW})
    request = RunRequest.model_validate({
        "checkout": repo, "event": "push", "payload": {}, "trigger_id": 41, "actor": "octocat",
        "store_url": f"sqlite:///{tmp_path / 'store.db'}", **fields,
    })  # fmt: skip
    asked, answered = tmp_path / "request.json", tmp_path / "outcome.json"
    asked.write_text(request.model_dump_json())
    done = subprocess.run(
        [sys.executable, "-m", "lockgate.server.runjob", str(asked), str(answered)],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )  # fmt: skip
    return done, answered


def test_a_run_records_its_trigger_and_actor_and_masks_its_secrets(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("TOKEN=s3cr3t-value\n")
    done, answered = _run(
        tmp_path, event="workflow_dispatch", payload={"inputs": {"mode": "fast"}},
        secret_file=str(secrets),
    )  # fmt: skip
    outcome = RunOutcome.read(answered)
    assert outcome is not None, done.stderr
    assert (outcome.exit_code, outcome.conclusion, outcome.error) == (0, Conclusion.SUCCESS, None)
    assert done.returncode == 0 and "s3cr3t" not in done.stdout + done.stderr
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    (run_id,) = outcome.runs
    run = store.get_run(run_id)
    assert run is not None and (run.trigger_id, run.actor) == (41, "octocat")
    lines = [entry.line for entry in store.logs(run_id)]
    assert "actor=octocat token=*** mode=fast" in lines
    assert "s3cr3t" not in answered.read_text()


def test_a_failing_job_is_a_failure_and_a_bad_request_says_why(tmp_path: Path) -> None:
    done, answered = _run(
        tmp_path / "a", event="workflow_dispatch", payload={"inputs": {"mode": "broken"}}
    )
    outcome = RunOutcome.read(answered)
    assert outcome is not None and (outcome.exit_code, outcome.conclusion) == (1, "failure")
    done, answered = _run(tmp_path / "b", secret_file=str(tmp_path / "missing.env"))
    outcome = RunOutcome.read(answered)
    assert outcome is not None and outcome.exit_code == 2 and outcome.conclusion is None
    assert outcome.error and "missing.env does not exist" in outcome.error
    assert "Traceback" not in done.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"event": "push"}')
    subprocess.run(
        [sys.executable, "-m", "lockgate.server.runjob", str(garbage), str(tmp_path / "o.json")],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    outcome = RunOutcome.read(tmp_path / "o.json")
    assert outcome is not None and outcome.exit_code == 2
    assert outcome.error and outcome.error.startswith("unreadable run request")


GREET = """
name: greet
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "greeted from the mirror"
"""
USES = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: acme/greet@v1
"""


def test_actions_come_from_the_github_url_the_server_was_given(tmp_path: Path) -> None:
    action = make_repo(tmp_path / "mirror" / "acme" / "greet", {"action.yml": GREET})
    git(action, "tag", "v1")
    repo = make_repo(tmp_path / "checkout", {".github/workflows/ci.yml": USES})
    store = f"sqlite:///{tmp_path / 'store.db'}"
    request = RunRequest(checkout=repo, event="push", payload={}, store_url=store, trigger_id=1,
                         actor="octocat", github_url=f"file://{tmp_path / 'mirror'}")  # fmt: skip
    asked, answered = tmp_path / "request.json", tmp_path / "outcome.json"
    asked.write_text(request.model_dump_json())
    subprocess.run(
        [sys.executable, "-m", "lockgate.server.runjob", str(asked), str(answered)],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    outcome = RunOutcome.read(answered)
    assert outcome is not None and outcome.exit_code == 0, outcome
    (run_id,) = outcome.runs
    assert "greeted from the mirror" in [line.line for line in Store(store).logs(run_id)]
