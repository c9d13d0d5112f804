"""The store's read models: rows become typed records with enum statuses, and `as_json()` is the
shape the CLI and the API have always shown."""

from __future__ import annotations

import json

import pytest

from lockgate.store.records import (
    AnnotationRecord,
    ArtifactRecord,
    Conclusion,
    RunRecord,
    Status,
    StepRecord,
    conclusion_of,
)

RUN_ROW = {
    "id": 7, "workflow": "CI", "workflow_file": ".github/workflows/ci.yml", "event": "push",
    "sha": "a" * 40, "ref": "refs/heads/main", "branch": "main", "dirty": False, "actor": "me",
    "repo_dir": "/r", "status": "completed", "conclusion": "failure", "started_at": 10.0,
    "finished_at": 12.5, "pid": 1, "host": "h", "trigger_id": None,
}  # fmt: skip


def test_a_row_becomes_a_record_with_enum_statuses() -> None:
    run = RunRecord.of(RUN_ROW)
    assert run.status is Status.COMPLETED and run.conclusion is Conclusion.FAILURE
    assert run.shown == "failure" and run.jobs == ()
    running = RunRecord.of({**RUN_ROW, "status": "running", "conclusion": None})
    assert running.conclusion is None and running.shown == "running"


def test_as_json_is_the_row_with_its_children() -> None:
    step = StepRecord.of(
        {"id": 1, "job_row": 2, "number": 1, "name": "s", "status": "skipped", "outcome": "skipped",
         "conclusion": "skipped", "exit_code": None, "started_at": 1.0, "finished_at": None,
         "outputs": None}
    )  # fmt: skip
    artifact = ArtifactRecord.of({"id": 3, "run_id": 7, "name": "dist", "path": "/x", "size": 9})
    run = RunRecord.of(RUN_ROW, artifacts=(artifact,))
    shown = json.loads(json.dumps(run.as_json()))
    assert {k: shown[k] for k in RUN_ROW} == RUN_ROW  # every column, statuses as plain words
    assert shown["artifacts"] == [{"id": 3, "run_id": 7, "name": "dist", "path": "/x", "size": 9}]
    assert "path" not in artifact.public()
    assert step.seconds is None and step.shown == "skipped"


def test_an_annotation_says_where_it_points() -> None:
    base = {"id": 1, "job_row": 1, "step": 1, "level": "error", "message": "m"}
    assert AnnotationRecord.of({**base, "file": "a.py", "line": 3}).where() == "a.py:3"
    assert AnnotationRecord.of({**base, "file": "a.py"}).where() == "a.py"
    assert AnnotationRecord.of(base).where() == ""


def test_an_unknown_status_is_refused_not_passed_on() -> None:
    with pytest.raises(ValueError):
        RunRecord.of({**RUN_ROW, "status": "exploded"})
    assert conclusion_of(None) is None and conclusion_of("cancelled") is Conclusion.CANCELLED
