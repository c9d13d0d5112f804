"""Which jobs each re-run button runs: all, the failed ones, or one, with their dependents."""

from __future__ import annotations

import pytest

from lockgate.server.reruns import NothingToRerun, Rerun, jobs_to_rerun, top_level
from lockgate.store.records import JobRecord, RunRecord, Status

RUN = {
    "id": 4, "workflow": "ci", "workflow_file": "ci.yml", "event": "push", "sha": "a" * 40,
    "ref": "refs/heads/main", "branch": "main", "dirty": False, "actor": "me", "repo_dir": "/r",
    "status": "completed", "conclusion": "failure", "started_at": 1.0, "finished_at": 2.0,
    "pid": 1, "host": "h", "trigger_id": 9,
}  # fmt: skip


def job(key: str, job_id: str, conclusion: str, needs: list[str] | None = None) -> JobRecord:
    row = {
        "id": hash(key) % 1000, "run_id": 4, "key": key, "job_id": job_id, "name": key,
        "matrix": None, "status": Status.COMPLETED, "conclusion": conclusion,
        "started_at": 1.0, "finished_at": 2.0, "outputs": None, "environment": None,
        "message": None, "summary": None, "cache_key": None, "cached_from": None,
        "needs": needs,
    }  # fmt: skip
    return JobRecord.of(row)


def run(*jobs: JobRecord) -> RunRecord:
    return RunRecord.of(RUN, jobs=tuple(jobs))


PIPELINE = run(
    job("lint", "lint", "success"),
    job("test (3.11)", "test", "success", ["lint"]),
    job("test (3.12)", "test", "failure", ["lint"]),
    job("package", "package", "skipped", ["test"]),
    job("deploy", "deploy", "skipped", ["package"]),
    job("docs", "docs", "success"),
    job("release / publish", "publish", "cancelled", ["release / build"]),
    job("release", "release", "cancelled", ["docs"]),
)


def test_all_jobs_is_no_limit() -> None:
    assert jobs_to_rerun(PIPELINE, Rerun()) is None


def test_failed_jobs_bring_what_depends_on_them() -> None:
    # test failed (one leg: the job), release was cancelled (its called jobs count as it)
    assert jobs_to_rerun(PIPELINE, Rerun(failed=True)) == ["deploy", "package", "release", "test"]


def test_one_job_brings_its_dependents_only() -> None:
    assert jobs_to_rerun(PIPELINE, Rerun(job="lint")) == ["deploy", "lint", "package", "test"]
    assert jobs_to_rerun(PIPELINE, Rerun(job="docs")) == ["docs", "release"]


def test_a_job_the_run_lacks_or_nothing_failed_is_said() -> None:
    with pytest.raises(NothingToRerun, match="run 4 has no job 'nope' \\(its jobs: deploy, docs"):
        jobs_to_rerun(PIPELINE, Rerun(job="nope"))
    green = run(job("lint", "lint", "success"))
    with pytest.raises(NothingToRerun, match="no job of run 4 failed or was cancelled"):
        jobs_to_rerun(green, Rerun(failed=True))


def test_a_called_workflows_jobs_belong_to_the_job_calling_them() -> None:
    assert top_level("release / publish", "publish") == "release"
    assert top_level("deploy (eu) / build (x)", "build") == "deploy"
    assert top_level("test (3.11)", "test") == "test"
