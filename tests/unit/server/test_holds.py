"""What a decided review lets go on, and the rules an admin may set."""

from __future__ import annotations

import pytest

from lockgate.common.errors import UserError
from lockgate.server.holds import checked, held_with
from lockgate.store.protections import ProtectionRecord, Review, ReviewState
from lockgate.store.records import JobRecord, RunRecord, Status

from .test_reruns import RUN


def job(job_id: str, status: str, needs: list[str] | None = None) -> JobRecord:
    row = {
        "id": 1, "run_id": 4, "key": job_id, "job_id": job_id, "name": job_id, "matrix": None,
        "status": status, "conclusion": "success" if status == "completed" else None,
        "started_at": None, "finished_at": None, "outputs": None, "environment": None,
        "message": None, "summary": None, "cache_key": None, "cached_from": None, "needs": needs,
    }  # fmt: skip
    return JobRecord.of(row)


RUN_HELD = RunRecord.of(RUN, jobs=(
    job("build", Status.COMPLETED),
    job("deploy", Status.WAITING, ["build"]),
    job("smoke", Status.WAITING, ["deploy"]),
    job("announce", Status.WAITING, ["smoke"]),
    job("stage", Status.WAITING, ["build"]),
))  # fmt: skip


def review(jobs: tuple[str, ...]) -> Review:
    return Review(1, 4, "production", jobs, ("alice",), 0, ReviewState.APPROVED, 0.0, "alice",
                  1.0, None, None)  # fmt: skip


def test_a_review_lets_its_jobs_go_on_with_what_waits_on_them_and_nothing_else() -> None:
    assert held_with(RUN_HELD, review(("deploy",))) == ["announce", "deploy", "smoke"]
    assert held_with(RUN_HELD, review(("stage",))) == ["stage"]


def rule(**given: object) -> ProtectionRecord:
    fields = {"environment": "production", "reviewers": (), "wait_seconds": 0, "branches": (),
              "vars": {}, "has_secrets": False, "changed_by": "admin", "changed_at": 0.0}  # fmt: skip
    return ProtectionRecord(**{**fields, **given})  # type: ignore[arg-type]


def test_a_rule_that_protects_nothing_or_names_no_one_is_refused() -> None:
    with pytest.raises(UserError, match="names no reviewer, wait, branch, secret or variable"):
        checked(rule())
    with pytest.raises(UserError, match="reviewer '' is not a valid name"):
        checked(rule(reviewers=("",)))
    with pytest.raises(UserError, match="between 0 and 30 days"):
        checked(rule(wait_seconds=31 * 24 * 3600))
    assert checked(rule(reviewers=("alice",))).reviewers == ("alice",)
