"""Protected environments, as GitHub has them: a job naming an environment runs only from the
branches and tags it allows, after one of its reviewers approved the run (never the person who
triggered it) and after its wait timer. The rules come from the server's configuration, never
from the repository a push can change; a run is given what was cleared for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from .globs import filter_match
from .refs import GitRef


@dataclass(frozen=True)
class Protection:
    environment: str
    reviewers: tuple[str, ...] = ()  # any one of them approves; () nobody needs to
    wait_seconds: int = 0  # after the job is reached (and approved), before it may start
    branches: tuple[str, ...] = ()  # patterns of the branch or tag names that may deploy; () all
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # only for its jobs
    vars: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Clearance:
    """What a run was given for an environment: a reviewer's approval, the wait served."""

    approved_by: str | None = None
    waited: bool = False


@dataclass(frozen=True)
class Go:
    pass


@dataclass(frozen=True)
class Hold:
    """The job waits: for a review, or for its timer (`seconds` from now, once approved)."""

    reason: str
    reviewers: tuple[str, ...]
    wait_seconds: int


@dataclass(frozen=True)
class Refuse:
    reason: str


Verdict = Go | Hold | Refuse


def verdict(protection: Protection | None, ref: GitRef, cleared: Clearance | None) -> Verdict:
    if protection is None:
        return Go()
    name = protection.environment
    if protection.branches and not filter_match(ref.name, protection.branches):
        allowed = ", ".join(protection.branches)
        return Refuse(f"{ref.name} may not deploy to {name}: only {allowed} may")
    cleared = cleared or Clearance()
    reviewers = protection.reviewers if cleared.approved_by is None else ()
    wait = protection.wait_seconds if not cleared.waited else 0
    if reviewers:
        return Hold(
            f"waiting for a review: {name} needs the approval of {' or '.join(reviewers)}",
            reviewers,
            wait,
        )
    if wait:
        return Hold(f"waiting {wait}s before it may deploy to {name}", (), wait)
    return Go()
