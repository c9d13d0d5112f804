"""A protected environment's verdict on a job: refused off its branches, held for a review
and then its wait, let go once the run was cleared for both."""

from __future__ import annotations

from lockgate.engine.protections import Clearance, Go, Hold, Protection, Refuse, verdict
from lockgate.engine.refs import GitRef

MAIN, TAG, FEATURE = GitRef("refs/heads/main"), GitRef("refs/tags/v1.2"), GitRef("refs/heads/x")
PRODUCTION = Protection("production", ("alice", "bob"), 300, ("main", "v*"))


def test_an_unprotected_environment_lets_every_job_go() -> None:
    assert verdict(None, FEATURE, None) == Go()


def test_only_the_branches_and_tags_it_names_may_deploy() -> None:
    assert verdict(PRODUCTION, FEATURE, None) == Refuse(
        "x may not deploy to production: only main, v* may"
    )
    assert isinstance(verdict(PRODUCTION, TAG, None), Hold)


def test_a_review_first_then_the_wait_then_it_goes() -> None:
    held = verdict(PRODUCTION, MAIN, None)
    assert held == Hold(
        "waiting for a review: production needs the approval of alice or bob", ("alice", "bob"), 300
    )
    approved = verdict(PRODUCTION, MAIN, Clearance(approved_by="alice"))
    assert approved == Hold("waiting 300s before it may deploy to production", (), 300)
    assert verdict(PRODUCTION, MAIN, Clearance(approved_by="alice", waited=True)) == Go()


def test_a_timer_alone_holds_without_reviewers() -> None:
    staging = Protection("staging", wait_seconds=60)
    assert verdict(staging, FEATURE, None) == Hold(
        "waiting 60s before it may deploy to staging", (), 60
    )
    assert verdict(staging, FEATURE, Clearance(waited=True)) == Go()
