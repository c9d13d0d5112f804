"""Which jobs a rerun runs, as GitHub's three re-run buttons choose them: all of them, the
failed ones, or one; the last two with every job that depends on them. What those need is
taken from the run being re-run, as it ended (RunOptions.reuse), as GitHub does."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..store.records import Conclusion, RunRecord


class Rerun(BaseModel):
    """A rerun's choice: `failed` jobs, one `job` (by id), or neither: all."""

    model_config = ConfigDict(extra="forbid")

    failed: bool = False
    job: str | None = Field(None, min_length=1, max_length=255)


class NothingToRerun(Exception):
    """The choice names no job of the run; the message says what it has."""


def top_level(key: str, job_id: str) -> str:
    """The workflow's own job a record belongs to: a called workflow's jobs to the job that
    called it (`deploy / build` to `deploy`), a matrix leg to its job."""
    return job_id if " / " not in key else key.split(" / ")[0].split(" (")[0]


def jobs_to_rerun(run: RunRecord, wanted: Rerun) -> list[str] | None:
    """The job ids the rerun is limited to; None: all of them."""
    if not wanted.failed and wanted.job is None:
        return None
    ids = {top_level(job.key, job.job_id) for job in run.jobs}
    if wanted.job is not None:
        if wanted.job not in ids:
            raise NothingToRerun(
                f"run {run.id} has no job {wanted.job!r} (its jobs: {', '.join(sorted(ids))})"
            )
        chosen = {wanted.job}
    else:
        unsuccessful = (Conclusion.FAILURE, Conclusion.CANCELLED)
        chosen = {top_level(j.key, j.job_id) for j in run.jobs if j.conclusion in unsuccessful}
        if not chosen:
            raise NothingToRerun(f"no job of run {run.id} failed or was cancelled")
    needs = {
        top_level(job.key, job.job_id): set(job.needs or ())
        for job in run.jobs
        if " / " not in job.key
    }
    grew = True
    while grew:  # every job that depends on a chosen one, however indirectly
        more = {job for job, needed in needs.items() if needed & chosen} - chosen
        chosen |= more
        grew = bool(more)
    return sorted(chosen)
