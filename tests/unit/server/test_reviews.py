"""Which deliveries ask for a plan, and the plan as a comment that no config value can break."""

from __future__ import annotations

from lockgate.deploy.gitops.plan import Change, ConfigPlan, PlannedChange
from lockgate.deploy.gitops.source import Commit
from lockgate.server.reviews import PullRequest, comment, pull_request_of
from lockgate.store.gitops import Difference

SHA = "c" * 40


def delivery(action: str, **extra: object) -> dict:  # type: ignore[type-arg]
    return {
        "action": action,
        "pull_request": {"number": 7, "head": {"sha": SHA}},
        "repository": {"full_name": "octo/config"},
        **extra,
    }


def test_opened_reopened_and_pushed_to_are_planned_in_each_forges_words() -> None:
    for forge, action in (("github", "opened"), ("github", "synchronize"), ("gitea", "synchronized"),
                          ("gitea", "reopened")):  # fmt: skip
        assert pull_request_of(forge, delivery(action)) == PullRequest("octo/config", 7, SHA)
    assert pull_request_of("github", delivery("synchronized")) is None  # Gitea's word
    assert pull_request_of("github", delivery("closed")) is None
    assert pull_request_of("github", delivery("opened", repository={"full_name": "x"})) is None
    bad = delivery("opened")
    bad["pull_request"] = {"number": 7, "head": {"sha": "main; rm -rf /"}}
    assert pull_request_of("github", bad) is None


def test_the_comment_fence_outlasts_any_backticks_in_the_config() -> None:
    found = ConfigPlan(
        "git://x/config.git#main:envs",
        Commit(SHA, "Alice <a@example.com>", "bump"),
        [PlannedChange("web", Change.CHANGE, [Difference("app", "a`````b", "a")])],
    )
    text = comment(found)
    assert "``````diff\n~ web\n    ~ app: a -> a`````b\n``````" in text
    assert text.endswith("**0 to add, 1 to change, 0 to remove**. Merging applies it.")
