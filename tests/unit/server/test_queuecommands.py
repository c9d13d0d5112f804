"""What GitHub's and Gitea's deliveries ask of the merge queue, read from their shapes: who may
queue, and what makes a pull request leave."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.server.pullrequests import PullRequest
from lockgate.server.queuecommands import Enter, Leave, NotAllowed, command_of

PULL = {"number": 7, "state": "open", "head": {"sha": "a" * 40, "ref": "feature"},
        "base": {"ref": "main"}}  # fmt: skip
AS_QUEUED = PullRequest(7, "a" * 40, "feature", "main", True)


def _github(action: str, **extra: Any) -> dict[str, Any]:
    return {"action": action, "number": 7, "pull_request": PULL, "sender": {"login": "ann"},
            **extra}  # fmt: skip


def _comment(forge: str, body: str, **extra: Any) -> dict[str, Any]:
    if forge == "github":
        return {"action": "created", "issue": {"number": 7, "pull_request": {"url": "u"}},
                "comment": {"body": body, "user": {"login": "ann"}, **extra}}  # fmt: skip
    return {"action": "created", "is_pull": True, "issue": {"number": 7},
            "comment": {"body": body}, "sender": {"login": "ann"}, **extra}  # fmt: skip


def test_the_merge_queue_label_enters_and_leaves_on_github() -> None:
    label = {"label": {"name": "merge-queue"}}
    assert command_of("github", "pull_request", _github("labeled", **label)) == Enter(
        7, "ann", AS_QUEUED
    )
    left = command_of("github", "pull_request", _github("unlabeled", **label))
    assert left == Leave(7, "the merge-queue label was taken off by ann", "ann")
    other = {"label": {"name": "bug"}}
    assert command_of("github", "pull_request", _github("labeled", **other)) is None


def test_gitea_sends_the_labels_a_pull_request_now_has() -> None:
    def updated(*names: str) -> dict[str, Any]:
        pull = {**PULL, "labels": [{"name": n} for n in names]}
        return {"action": "label_updated", "number": 7, "pull_request": pull,
                "sender": {"login": "ann"}}  # fmt: skip

    assert command_of("gitea", "pull_request", updated("bug", "merge-queue")) == Enter(
        7, "ann", AS_QUEUED
    )
    assert isinstance(command_of("gitea", "pull_request", updated("bug")), Leave)


@pytest.mark.parametrize(
    ("forge", "pushed"), [("github", "synchronize"), ("gitea", "synchronized")]
)
def test_a_pull_request_pushed_to_or_closed_leaves(forge: str, pushed: str) -> None:
    assert command_of(forge, "pull_request", _github(pushed)) == Leave(
        7, "commits were pushed to it: queue it again", "ann"
    )
    assert command_of(forge, "pull_request", _github("closed")) == Leave(7, "it was closed", "ann")
    assert command_of(forge, "pull_request", _github("opened")) is None


def test_comments_queue_only_from_people_who_may_write() -> None:
    writer = _comment("github", "/merge", author_association="MEMBER")
    assert command_of("github", "issue_comment", writer) == Enter(7, "ann", None)
    cancel = _comment("github", "/merge cancel\nthanks", author_association="OWNER")
    assert command_of("github", "issue_comment", cancel) == Leave(
        7, "removed by ann (/merge cancel)", "ann"
    )
    for association in ("NONE", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", None):
        with pytest.raises(NotAllowed, match="ann may not write"):
            command_of("github", "issue_comment",
                       _comment("github", "/merge", author_association=association))  # fmt: skip
    pusher = {"repository": {"permissions": {"push": True}}}
    assert command_of("gitea", "issue_comment", _comment("gitea", "/merge", **pusher)) == Enter(
        7, "ann", None
    )
    reader = {"repository": {"permissions": {"push": False, "pull": True}}}
    with pytest.raises(NotAllowed):
        command_of("gitea", "issue_comment", _comment("gitea", "/merge", **reader))


@pytest.mark.parametrize("body", ["please /merge", "/merged", "/merge now", "", "/merge cancel x"])
def test_other_comments_ask_nothing(body: str) -> None:
    said = _comment("github", body, author_association="OWNER")
    assert command_of("github", "issue_comment", said) is None


def test_comments_on_issues_and_broken_deliveries_ask_nothing() -> None:
    on_issue = _comment("github", "/merge", author_association="OWNER")
    on_issue["issue"] = {"number": 7}
    assert command_of("github", "issue_comment", on_issue) is None
    assert (
        command_of("gitea", "issue_comment", {**_comment("gitea", "/merge"), "is_pull": False})
        is None
    )
    for broken in (
        {},
        {"action": "labeled", "pull_request": "x"},
        {"pull_request": {"number": "7"}},
    ):
        assert command_of("github", "pull_request", broken) is None
    assert command_of("github", "push", _github("labeled")) is None
