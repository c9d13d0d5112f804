"""The worker's typed boundary with a run: requests are validated, and only a whole outcome is
ever read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lockgate.server.runjob import RunOutcome, RunRequest, write
from lockgate.server.worker import _died, _exit_code
from lockgate.store.records import Conclusion

REQUEST = {"checkout": "/w/checkout", "event": "push", "payload": {}, "store_url": "sqlite://",
           "trigger_id": 3, "actor": "octocat"}  # fmt: skip


def test_a_request_takes_nothing_unknown_and_no_odd_event() -> None:
    assert RunRequest.model_validate(REQUEST).workflow is None
    with pytest.raises(ValidationError):
        RunRequest.model_validate({**REQUEST, "extra": 1})
    with pytest.raises(ValidationError):
        RunRequest.model_validate({**REQUEST, "event": "push; rm -rf /"})


def test_only_a_whole_outcome_is_read(tmp_path: Path) -> None:
    path = tmp_path / "outcome.json"
    assert RunOutcome.read(path) is None  # none was written
    outcome = RunOutcome(exit_code=1, conclusion=Conclusion.FAILURE, runs=[4, 5])
    write(outcome, path)
    assert RunOutcome.read(path) == outcome and not list(tmp_path.glob("*.partial"))
    path.write_text(outcome.model_dump_json()[:20])  # cut off
    assert RunOutcome.read(path) is None
    path.write_text('{"exit_code": 0, "said": "hello"}')  # not an outcome
    assert RunOutcome.read(path) is None


def test_a_run_that_left_no_outcome_is_reported_by_how_it_ended() -> None:
    assert _exit_code(-9) == 137 and _exit_code(1) == 1
    assert _died(-9) == "the run's process ended without an outcome (killed by SIGKILL)"
    assert "exit code 3" in _died(3)
