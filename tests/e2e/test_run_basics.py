"""`lockgate run` end to end on real git repositories: contexts, env files, needs, matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import git, jobs_by_key, lockgate, make_repo, run_json

pytestmark = pytest.mark.integration

PIPELINE = """
name: pipeline
on:
  push:
    branches: [main]
env:
  LEVEL: workflow
  SHARED: from-workflow
jobs:
  setup:
    runs-on: ubuntu-latest
    env:
      LEVEL: job
    outputs:
      list: ${{ steps.m.outputs.list }}
      word: ${{ steps.w.outputs.word }}
    steps:
      - uses: actions/checkout@v4
      - id: m
        run: echo 'list=["a","b"]' >> "$GITHUB_OUTPUT"
      - id: w
        run: |
          {
            echo "word<<EOF"
            echo "multi"
            echo "line"
            echo "EOF"
          } >> "$GITHUB_OUTPUT"
          echo "FROM_ENV_FILE=yes" >> "$GITHUB_ENV"
          mkdir -p "$RUNNER_TEMP/bin" && printf '#!/bin/sh\\necho tool-ran\\n' > "$RUNNER_TEMP/bin/mytool"
          chmod +x "$RUNNER_TEMP/bin/mytool" && echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
      - name: env precedence and files
        env:
          LEVEL: step
        run: |
          echo "level=$LEVEL shared=$SHARED file=$FROM_ENV_FILE ci=$CI sha=$GITHUB_SHA"
          mytool
          cat untracked.txt
          echo "ref=${{ github.ref }} event=${{ github.event_name }}"
          echo "## Report" >> "$GITHUB_STEP_SUMMARY"
  fan:
    needs: setup
    runs-on: ubuntu-latest
    strategy:
      matrix:
        item: ${{ fromJSON(needs.setup.outputs.list) }}
        include:
          - item: a
            extra: x
    steps:
      - run: echo "item=${{ matrix.item }} extra=${{ matrix.extra }} total=${{ strategy.job-total }}"
"""


def test_pipeline_contexts_env_files_and_dynamic_matrix(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/p.yml": PIPELINE, "a.txt": "a"})
    (repo / "untracked.txt").write_text("uncommitted work is tested\n")
    code, report = run_json(repo)
    assert code == 0, report
    jobs = jobs_by_key(report)
    assert set(jobs) == {"setup", "fan (a, x)", "fan (b)"}
    assert jobs["setup"]["outputs"] == {"list": '["a","b"]', "word": "multi\nline"}
    assert "## Report" in jobs["setup"]["summary"]
    run_id = report["runs"][0]["run_id"]
    logs = lockgate("logs", str(run_id), "-j", "setup", cwd=repo).stdout
    sha = (repo / ".git" / "refs" / "heads" / "main").read_text().strip()
    assert f"level=step shared=from-workflow file=yes ci=true sha={sha}" in logs
    assert "tool-ran" in logs
    assert "uncommitted work is tested" in logs
    assert "ref=refs/heads/main event=push" in logs
    fan_logs = lockgate("logs", str(run_id), "-j", "fan", cwd=repo).stdout
    assert "item=a extra=x total=2" in fan_logs
    assert "item=b extra= total=2" in fan_logs


def test_branch_filter_decides_what_runs(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/p.yml": PIPELINE})
    listed = lockgate("run", "--list", "--output", "json", cwd=repo)
    assert json.loads(listed.stdout)["workflows"][0]["file"] == ".github/workflows/p.yml"
    done = lockgate("run", "pull_request", cwd=repo)
    assert done.returncode == 0
    assert "no workflow is triggered by pull_request" in done.stderr


FAILING = """
on: push
jobs:
  flaky:
    runs-on: ubuntu-latest
    steps:
      - id: bad
        continue-on-error: true
        run: exit 3
      - run: echo "outcome=${{ steps.bad.outcome }} conclusion=${{ steps.bad.conclusion }}"
      - id: broken
        run: exit 1
      - name: skipped after failure
        run: echo should-not-run
      - name: on failure
        if: failure()
        run: echo "cleanup ran, job status ${{ job.status }}"
      - name: always
        if: ${{ always() }}
        run: echo always-ran
  downstream:
    needs: flaky
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  reporter:
    needs: flaky
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo "saw ${{ needs.flaky.result }}"
"""


def test_failure_semantics_and_exit_code(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/f.yml": FAILING})
    code, report = run_json(repo)
    assert code == 1
    jobs = jobs_by_key(report)
    assert jobs["flaky"]["conclusion"] == "failure"
    assert jobs["downstream"]["conclusion"] == "skipped"
    assert jobs["reporter"]["conclusion"] == "success"
    steps = {s["name"]: s for s in jobs["flaky"]["steps"]}
    assert steps["Run exit 3"]["outcome"] == "failure"
    assert steps["Run exit 3"]["conclusion"] == "success"
    assert steps["skipped after failure"]["outcome"] == "skipped"
    assert steps["on failure"]["outcome"] == "success"
    run_id = report["runs"][0]["run_id"]
    logs = lockgate("logs", str(run_id), cwd=repo).stdout
    assert "outcome=failure conclusion=success" in logs
    assert "cleanup ran, job status failure" in logs
    assert "always-ran" in logs
    assert "should-not-run" not in logs
    assert "saw failure" in logs


SECRETS = """
on: push
jobs:
  mask:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "token is ${{ secrets.API_TOKEN }}"
          echo "env sees $TOKEN"
          echo "::add-mask::dynamic-value-42"
          echo "later: dynamic-value-42"
          echo "summary ${{ secrets.API_TOKEN }}" >> "$GITHUB_STEP_SUMMARY"
        env:
          TOKEN: ${{ secrets.API_TOKEN }}
"""


def test_secrets_are_masked_everywhere(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/s.yml": SECRETS})
    secret_file = tmp_path / "secrets.env"
    secret_file.write_text("API_TOKEN=hunter2-very-secret\n")
    done = lockgate("run", "--secret-file", str(secret_file), cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hunter2-very-secret" not in done.stdout
    assert "dynamic-value-42" not in done.stdout.replace("::add-mask::dynamic-value-42", "")
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "token is ***" in logs and "env sees ***" in logs and "later: ***" in logs
    assert "hunter2" not in logs
    shown = lockgate("show", "1", "--output", "json", cwd=repo).stdout
    assert "hunter2" not in shown and "summary ***" in shown


def test_workflow_commands_become_annotations(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  notes:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "::warning file=src/a.py,line=7,col=2,title=Style::long line"
          echo "::stop-commands::pause-token"
          echo "::error::not a command while stopped"
          echo "::pause-token::"
          echo "::error file=src/b.py,line=1::real error"
          echo "::set-output name=legacy::old-style"
        id: s
      - run: echo "legacy=${{ steps.s.outputs.legacy }}"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/n.yml": wf})
    code, _ = run_json(repo)
    assert code == 0
    shown = json.loads(lockgate("show", "1", "--output", "json", cwd=repo).stdout)
    notes = shown["jobs"][0]["annotations"]
    assert [(n["level"], n["file"], n["line"], n["message"]) for n in notes] == [
        ("warning", "src/a.py", 7, "long line"),
        ("error", "src/b.py", 1, "real error"),
    ]
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "::error::not a command while stopped" in logs
    assert "legacy=old-style" in logs


def test_runs_on_mismatch_is_skipped_with_a_hint_and_platform_maps_it(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  mac:
    runs-on: macos-latest
    steps:
      - run: echo on-mac
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/m.yml": wf})
    code, report = run_json(repo)
    job = jobs_by_key(report)["mac"]
    assert code == 0 and job["conclusion"] == "skipped"
    assert "--platform macos-latest=local" in job["message"]
    code, report = run_json(repo, "--platform", "macos-latest=local")
    assert code == 0 and jobs_by_key(report)["mac"]["conclusion"] == "success"


def test_workflow_dispatch_inputs_are_typed(tmp_path: Path) -> None:
    wf = """
on:
  workflow_dispatch:
    inputs:
      count:
        type: number
        default: 2
      loud:
        type: boolean
        required: true
jobs:
  show:
    runs-on: ubuntu-latest
    steps:
      - run: echo "count=${{ inputs.count }} double=${{ inputs.count == 2 }} loud=${{ inputs.loud }}"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/d.yml": wf})
    missing = lockgate("run", "workflow_dispatch", cwd=repo)
    assert missing.returncode == 2
    assert "required input 'loud'" in missing.stderr and "Traceback" not in missing.stderr
    code, _ = run_json(repo, "workflow_dispatch", "--input", "loud=true")
    assert code == 0
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "count=2 double=true loud=true" in logs
    event = tmp_path / "event.json"  # as GitHub (and lockgate serve) send a dispatch
    event.write_text(json.dumps({"inputs": {"count": "5", "loud": False}}))
    code, _ = run_json(repo, "workflow_dispatch", "-e", str(event), "--input", "count=7")
    assert code == 0
    assert "count=7 double=false loud=false" in lockgate("logs", "2", cwd=repo).stdout


A_WORKFLOW = """
on: push
jobs:
  lint: {runs-on: ubuntu-latest, steps: [{run: echo lint-a}]}
  test:
    runs-on: ${{ matrix.os }}
    name: Test on ${{ matrix.os }}
    strategy:
      matrix:
        include: [{os: ubuntu-latest, py: '3.12'}, {os: ubuntu-22.04, py: '3.11'}]
    steps: [{run: echo test-a}]
"""
B_WORKFLOW = """
on: push
concurrency: b-${{ github.ref }}
jobs:
  lint: {runs-on: ubuntu-latest, steps: [{run: echo lint-b}]}
  build: {runs-on: ubuntu-latest, steps: [{run: echo build-b}]}
"""


def test_job_selection_spans_every_workflow_and_the_plan_shows_it(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {".github/workflows/a.yml": A_WORKFLOW, ".github/workflows/b.yml": B_WORKFLOW},
    )
    plan = json.loads(lockgate("run", "--list", "-j", "lint", "-o", "json", cwd=repo).stdout)
    assert [[e["job"] for e in s] for w in plan["workflows"] for s in w["stages"]] == [
        ["lint"],
        ["lint"],
    ]
    full = json.loads(lockgate("run", "--list", "-o", "json", cwd=repo).stdout)
    test = next(e for s in full["workflows"][0]["stages"] for e in s if e["job"] == "test")
    assert [j["name"] for j in test["jobs"]] == ["Test on ubuntu-latest", "Test on ubuntu-22.04"]
    assert [j["runs_on"] for j in test["jobs"]] == ["ubuntu-latest", "ubuntu-22.04"]
    code, report = run_json(repo, "-j", "lint")
    assert code == 0, report
    assert sorted(r["workflow"] for r in report["runs"]) == [
        ".github/workflows/a.yml",
        ".github/workflows/b.yml",
    ]
    assert all([j["job_id"] for j in r["jobs"]] == ["lint"] for r in report["runs"])
    missing = lockgate("run", "-j", "nope", cwd=repo)
    assert missing.returncode == 2 and "no triggered workflow has a job 'nope'" in missing.stderr
    assert "build, lint, test" in missing.stderr
    named = lockgate("run", "-j", "test", cwd=repo)
    assert named.returncode == 0, named.stderr
    run_id = json.loads(lockgate("runs", "-o", "json", cwd=repo).stdout)[0]["id"]
    assert "test-a" in lockgate("logs", str(run_id), "-j", "Test on ubuntu-22.04", cwd=repo).stdout


PATHS_WORKFLOW = """
on:
  push:
    paths: ['docs/**']
jobs:
  docs: {runs-on: ubuntu-latest, steps: [{run: echo docs}]}
"""


def test_paths_filters_use_the_push_range(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {".github/workflows/d.yml": PATHS_WORKFLOW, "docs/index.md": "v1", "src/x.py": "1"},
    )
    first = git(repo, "rev-parse", "HEAD")
    (repo / "docs" / "index.md").write_text("v2")
    git(repo, "commit", "-qam", "docs")
    (repo / "src" / "x.py").write_text("2")
    git(repo, "commit", "-qam", "code")
    # HEAD alone touched only src/: not triggered ...
    assert "no workflow is triggered" in lockgate("run", cwd=repo).stderr
    # ... but a push of both commits (the event's before..after) touched docs/.
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"before": first, "after": git(repo, "rev-parse", "HEAD")}))
    code, report = run_json(repo, "-e", str(event))
    assert code == 0 and [r["workflow"] for r in report["runs"]] == [".github/workflows/d.yml"]
    # A merge commit counts its first parent's side.
    git(repo, "checkout", "-qb", "topic", first)
    (repo / "docs" / "other.md").write_text("x")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "topic docs")
    git(repo, "checkout", "-q", "-")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "topic")
    code, report = run_json(repo)
    assert code == 0 and len(report["runs"]) == 1
    assert not (repo / ".lockgate" / "anything").exists()


def test_symlinks_are_copied_as_links_and_keep_the_job_cache(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: test -L link.txt && test "$(readlink link.txt)" = src/a.txt && cat link.txt
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/s.yml": wf, "src/a.txt": "hi"})
    (repo / "link.txt").symlink_to("src/a.txt")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "link")
    code, report = run_json(repo)
    assert code == 0, report
    code, report = run_json(repo)
    assert jobs_by_key(report)["t"]["cached_from"] is not None


def test_a_step_sees_its_workspace_in_the_environment_and_expressions(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  w:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          test -n "$GITHUB_WORKSPACE"
          test "$GITHUB_WORKSPACE" = "$PWD"
          test "${{ github.workspace }}" = "$GITHUB_WORKSPACE"
          echo workspace-ok
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/w.yml": wf})
    code, report = run_json(repo)
    assert code == 0, report
    assert "workspace-ok" in lockgate("logs", "1", cwd=repo).stdout


def test_a_matrix_of_objects_is_named_alike_in_the_plan_and_the_run(tmp_path: Path) -> None:
    """Object values show their values, as on GitHub, in `--list` and in the run alike, and
    `--matrix` selects by an object's field (`os.shell:bash`) or its shown value."""
    wf = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        node: [24.x]
        os: [{name: ubuntu-latest, shell: bash}, {name: ubuntu-latest, shell: sh}]
    steps:
      - run: echo "leg ${{ matrix.os.shell }}"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": wf})
    listed = lockgate("run", "--list", cwd=repo)
    assert "build (24.x, ubuntu-latest, bash)" in listed.stdout, listed.stdout
    assert "Object" not in listed.stdout
    done = lockgate("run", "--no-cache", "-o", "json", "--matrix", "os.shell:bash", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [j["name"] for j in json.loads(done.stdout)["runs"][0]["jobs"]] == [
        "build (24.x, ubuntu-latest, bash)"
    ]
    shown = lockgate("run", "--no-cache", "-o", "json", "--matrix", "os:ubuntu-latest, sh",
                     cwd=repo)  # fmt: skip
    assert [j["name"] for j in json.loads(shown.stdout)["runs"][0]["jobs"]] == [
        "build (24.x, ubuntu-latest, sh)"
    ]
