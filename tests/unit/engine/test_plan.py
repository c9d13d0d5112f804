"""The plan `run --list` shows, as typed records: stages along `needs`, a selection with what it
needs, matrices expanded (or said to be known only at run time), fastest-first within a stage."""

from __future__ import annotations

from pathlib import Path

from lockgate.engine.plan import PlannedJob, describe
from lockgate.workflow.loader import LoadedWorkflow, load_workflow

WORKFLOW = """
name: CI
on: push
jobs:
  lint: {runs-on: ubuntu-latest, steps: [{run: "true"}]}
  types: {runs-on: ubuntu-latest, steps: [{run: "true"}]}
  test:
    needs: [lint, types]
    runs-on: ${{ matrix.os }}
    strategy: {matrix: {os: [ubuntu-latest, macos-latest]}}
    steps: [{run: "true"}]
  later:
    needs: test
    strategy: {matrix: "${{ fromJSON(needs.test.outputs.m) }}"}
    runs-on: ubuntu-latest
    steps: [{run: "true"}]
  release:
    needs: test
    uses: octo/wf/.github/workflows/release.yml@v1
"""


def _workflow(tmp_path: Path) -> LoadedWorkflow:
    path = tmp_path / "ci.yml"
    path.write_text(WORKFLOW)
    return load_workflow(path, ".github/workflows/ci.yml")


def test_stages_follow_needs_and_matrices_are_expanded(tmp_path: Path) -> None:
    wf = _workflow(tmp_path)
    plan = describe([wf], [(wf, "on: pull_request only")])
    (planned,) = plan.workflows
    assert [[e.job for e in stage] for stage in planned.stages] == [
        ["lint", "types"], ["test"], ["later", "release"],
    ]  # fmt: skip
    test = planned.stages[1][0]
    assert test.jobs == [PlannedJob("test (ubuntu-latest)", "ubuntu-latest"),
                         PlannedJob("test (macos-latest)", "macos-latest")]  # fmt: skip
    later, release = planned.stages[2]
    assert later.matrix == "computed at run time" and release.uses and release.runs_on is None
    shown = plan.as_json()
    entry = shown["workflows"][0]["stages"][2][1]  # type: ignore[index]
    assert "runs_on" not in entry and entry["uses"].startswith("octo/wf")
    assert shown["not_triggered"] == [{"file": ".github/workflows/ci.yml",
                                       "reason": "on: pull_request only"}]  # fmt: skip


def test_a_selection_keeps_what_it_needs_and_history_orders_a_stage(tmp_path: Path) -> None:
    wf = _workflow(tmp_path)
    (planned,) = describe([wf], [], only=["test"]).workflows
    assert [[e.job for e in stage] for stage in planned.stages] == [["lint", "types"], ["test"]]
    history = {"types": [("failure", 1.0), ("failure", 1.0)], "lint": [("success", 1.0)] * 2}
    (planned,) = describe([wf], [], history=lambda _file: history).workflows
    assert [e.job for e in planned.stages[0]] == ["types", "lint"]  # likeliest to fail first
    assert planned.stages[0][0].history.startswith("failed 2 of last 2")
