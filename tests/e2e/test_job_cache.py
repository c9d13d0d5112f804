"""The job cache end to end: hits restore everything observable, misses happen exactly when an
input changed, failures are never kept, secrets stay secret, the size bound holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import cached_from, git, jobs_by_key, lockgate, make_repo, run_json

pytestmark = pytest.mark.integration

PIPELINE = """
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    outputs:
      digest: ${{ steps.sum.outputs.digest }}
    steps:
      - uses: actions/checkout@v4
      - id: sum
        run: |
          echo "linting $(cat src/app.txt)"
          echo "digest=$(cat src/*.txt | sha256sum | cut -c1-12)" >> "$GITHUB_OUTPUT"
          echo "::warning file=src/app.txt,line=1::style nit"
          echo "### lint passed" >> "$GITHUB_STEP_SUMMARY"
      - uses: actions/upload-artifact@v4
        with:
          name: report
          path: src/
  test:
    needs: lint
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: report
      - run: echo "testing ${{ needs.lint.outputs.digest }} $(cat app.txt)"
  docs:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: cat docs/index.md
"""

PROJECT = """
jobs:
  lint:
    inputs: ["src/**"]
  test:
    inputs: ["tests/**"]
  docs:
    inputs: ["docs/**"]
"""


def _repo(tmp_path: Path, workflow: str = PIPELINE, project: str = PROJECT) -> Path:
    return make_repo(
        tmp_path / "repo",
        {
            ".github/workflows/ci.yml": workflow,
            "lockgate.yml": project,
            "src/app.txt": "v1\n",
            "tests/t.txt": "t\n",
            "docs/index.md": "# docs\n",
        },
    )


def _observable(report: dict) -> dict:  # type: ignore[type-arg]
    """What a user can see of a run, without timings, ids and cache bookkeeping."""
    return {
        key: {
            "conclusion": job["conclusion"],
            "outputs": job["outputs"],
            "summary": job["summary"],
            "steps": [
                (s["name"], s["outcome"], s["conclusion"], s["outputs"]) for s in job["steps"]
            ],
        }
        for key, job in jobs_by_key(report).items()
    }


def _logs(repo: Path, run_id: int) -> dict[str, list[tuple[int, str]]]:
    done = lockgate("logs", str(run_id), "-o", "json", cwd=repo)
    assert done.returncode == 0, done.stderr
    by_job: dict[str, list[tuple[int, str]]] = {}
    for row in json.loads(done.stdout):
        by_job.setdefault(row["key"], []).append((row["step"], row["line"]))
    return by_job


def test_a_rerun_without_changes_restores_every_job(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    code, first = run_json(repo)
    assert code == 0, first
    code, second = run_json(repo)
    assert code == 0, second
    first_id, second_id = first["runs"][0]["run_id"], second["runs"][0]["run_id"]
    assert cached_from(second) == {"lint": first_id, "test": first_id, "docs": first_id}
    assert _observable(second) == _observable(first)
    assert _logs(repo, second_id) == _logs(repo, first_id)
    shown = json.loads(lockgate("show", str(second_id), "-o", "json", cwd=repo).stdout)
    lint = next(j for j in shown["jobs"] if j["key"] == "lint")
    assert lint["cached_from"] == first_id
    assert [a["message"] for a in lint["annotations"]] == ["style nit"]
    assert [a["name"] for a in shown["artifacts"]] == ["report"]
    assert (Path(shown["artifacts"][0]["path"]) / "app.txt").read_text() == "v1\n"
    plain = lockgate("run", cwd=repo)
    assert "cached    lint" in plain.stdout and "cached from run" in plain.stdout


def test_only_jobs_whose_inputs_changed_run_again(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    run_json(repo)
    (repo / "docs" / "index.md").write_text("# new docs\n")  # uncommitted work counts
    code, report = run_json(repo)
    assert code == 0
    assert {k for k, v in cached_from(report).items() if v is None} == {"docs"}
    (repo / "src" / "app.txt").write_text("v2\n")
    code, report = run_json(repo)
    # lint's output changes, so test (which needs it) runs again too.
    assert {k for k, v in cached_from(report).items() if v is None} == {"lint", "test"}
    assert "testing" in str(_logs(repo, report["runs"][0]["run_id"]))


def test_definition_env_and_lockgate_yml_changes_are_misses(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    run_json(repo)
    _, report = run_json(repo, "--env", "MODE=fast")
    assert all(v is None for v in cached_from(report).values())
    _, report = run_json(repo, "--env", "MODE=fast")
    assert all(v is not None for v in cached_from(report).values())
    workflow = PIPELINE.replace("cat docs/index.md", "cat docs/index.md; echo more")
    (repo / ".github/workflows/ci.yml").write_text(workflow)
    _code, report = run_json(repo, "--env", "MODE=fast")
    assert {k for k, v in cached_from(report).items() if v is None} == {"docs"}


def test_failed_and_uncached_runs_are_never_kept(tmp_path: Path) -> None:
    workflow = """
on: push
jobs:
  flaky:
    runs-on: ubuntu-latest
    steps:
      - run: test -f "$LOCKGATE_OK_FILE"
"""
    repo = _repo(tmp_path, workflow, "")
    ok = tmp_path / "ok"
    env = ["--env", f"LOCKGATE_OK_FILE={ok}"]
    code, report = run_json(repo, *env)
    assert code == 1
    ok.write_text("")
    code, report = run_json(repo, *env)
    assert code == 0 and cached_from(report) == {"flaky": None}
    code, report = run_json(repo, "--no-cache", *env)
    assert cached_from(report) == {"flaky": None}
    code, report = run_json(repo, *env)
    assert cached_from(report)["flaky"] is not None


def test_secrets_change_the_key_but_never_appear_in_the_cache(tmp_path: Path) -> None:
    workflow = """
on: push
jobs:
  deploy-check:
    runs-on: ubuntu-latest
    steps:
      - run: test -n "${{ secrets.API_TOKEN }}" && echo token is set
"""
    repo = _repo(tmp_path, workflow, "")
    secret = "s3cr3t-value-for-the-cache-test"
    code, report = run_json(repo, "-s", f"API_TOKEN={secret}")
    assert code == 0
    code, report = run_json(repo, "-s", f"API_TOKEN={secret}")
    assert cached_from(report)["deploy-check"] is not None
    code, report = run_json(repo, "-s", "API_TOKEN=another-value")
    assert cached_from(report)["deploy-check"] is None
    for path in (repo / ".lockgate" / "cache").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data and b"another-value" not in data, path


def test_jobs_with_an_environment_are_not_cached_unless_asked(tmp_path: Path) -> None:
    workflow = """
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo deploying
"""
    repo = _repo(tmp_path, workflow, "")
    run_json(repo)
    _, report = run_json(repo)
    assert cached_from(report) == {"deploy": None}
    (repo / "lockgate.yml").write_text("jobs:\n  deploy:\n    cache: true\n")
    run_json(repo)
    _code, report = run_json(repo)
    assert cached_from(report)["deploy"] is not None


def test_declared_output_paths_come_back_on_a_hit_in_place(tmp_path: Path) -> None:
    workflow = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p dist && cp src/app.txt dist/app.bin
"""
    project = 'jobs:\n  build:\n    inputs: ["src/**"]\n    outputs: ["dist/**"]\n'
    repo = _repo(tmp_path, workflow, project)
    (repo / ".gitignore").write_text("dist/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "ignore dist")
    run_json(repo, "--bind")
    (repo / "dist" / "app.bin").unlink()
    _code, report = run_json(repo, "--bind")
    assert cached_from(report)["build"] is not None
    assert (repo / "dist" / "app.bin").read_text() == "v1\n"


def test_cache_ls_and_prune_drop_the_least_recently_used(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    run_json(repo)
    (repo / "docs" / "index.md").write_text("# two\n")
    run_json(repo)
    listing = json.loads(lockgate("cache", "ls", "-o", "json", cwd=repo).stdout)
    assert sorted(e["job"] for e in listing) == ["docs", "docs", "lint", "test"]
    newest = listing[0]
    budget = newest["size"] + 10
    done = lockgate("cache", "prune", "--max-size", str(budget), cwd=repo)
    assert done.returncode == 0, done.stderr
    after = json.loads(lockgate("cache", "ls", "-o", "json", cwd=repo).stdout)
    assert [e["key"] for e in after] == [newest["key"]]
    bad = lockgate("cache", "prune", "--max-size", "lots", cwd=repo)
    assert bad.returncode == 2 and "--max-size" in bad.stderr and "Traceback" not in bad.stderr


def test_a_bad_lockgate_yml_is_a_clear_error(tmp_path: Path) -> None:
    repo = _repo(tmp_path, PIPELINE, "jobs:\n  lint:\n    inputz: [src]\n")
    done = lockgate("run", cwd=repo)
    assert done.returncode == 2
    assert "lockgate.yml:3:5" in done.stderr and "unknown key 'inputz'" in done.stderr
    (repo / "lockgate.yml").write_text("cache:\n  max-size: huge\n")
    done = lockgate("run", cwd=repo)
    assert done.returncode == 2 and "lockgate.yml:2:13" in done.stderr, done.stderr
