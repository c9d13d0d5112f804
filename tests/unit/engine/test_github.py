"""The github context: what expressions see and what a step's environment holds, from one
typed record."""

from __future__ import annotations

from pathlib import Path

from lockgate.engine.github import GitHubContext
from lockgate.engine.refs import GitRef, ref_of

CONTEXT = GitHubContext(
    event_name="push",
    sha="abc123",
    ref=GitRef("refs/heads/main"),
    repository="acme/shop",
    repository_url="file:///srv/shop",
    actor="ana",
    workflow="ci",
    workflow_ref="acme/shop/.github/workflows/ci.yml@refs/heads/main",
    run_id="7",
    token="t0ken",
)


def test_expressions_and_environment_agree() -> None:
    job = CONTEXT.within("test", "/work/ws")
    seen = job.as_context()
    env = job.environment(
        event_path=Path("/e.json"), action="__run_2", temp=Path("/t"), tool_cache=Path("/tc")
    )
    for name, variable in [
        ("sha", "GITHUB_SHA"), ("ref", "GITHUB_REF"), ("repository", "GITHUB_REPOSITORY"),
        ("repository_owner", "GITHUB_REPOSITORY_OWNER"), ("job", "GITHUB_JOB"),
        ("workspace", "GITHUB_WORKSPACE"), ("run_id", "GITHUB_RUN_ID"), ("actor", "GITHUB_ACTOR"),
    ]:  # fmt: skip
        assert seen[name] == env[variable], name
    assert seen["repository_owner"] == "acme" and env["GITHUB_ACTION"] == "__run_2"
    assert "GITHUB_TOKEN" not in env  # the token is a secret: only `${{ github.token }}`
    assert "action_path" not in seen and "GITHUB_ACTION_PATH" not in env


def test_inside_an_action_its_path_and_reference_are_set() -> None:
    inside = CONTEXT.within("test", "/ws", action_path="/cache/acme/act")
    env = inside.environment(
        event_path=Path("/e"),
        action="a",
        temp=Path("/t"),
        tool_cache=Path("/tc"),
        uses="acme/act/sub@v2",
    )
    assert inside.as_context()["action_path"] == "/cache/acme/act"
    step = CONTEXT.within("test", "/ws").within(action_path="/a")  # as each step derives it
    assert (step.job, step.workspace, step.as_context()["workspace"]) == ("test", "/ws", "/ws")
    assert (env["GITHUB_ACTION_REPOSITORY"], env["GITHUB_ACTION_REF"]) == ("acme/act", "v2")
    local = inside.environment(
        event_path=Path("/e"), action="a", temp=Path("/t"), tool_cache=Path("/tc"), uses="./x"
    )
    assert (local["GITHUB_ACTION_REPOSITORY"], local["GITHUB_ACTION_REF"]) == ("", "")


def test_refs_as_github_names_them_for_each_event() -> None:
    pull = {"number": 7, "pull_request": {"head": {"ref": "fix"}, "base": {"ref": "main"}}}
    for event, payload, wanted in [
        ("push", {}, ("refs/heads/dev", "dev", "branch", "", "", "refs/heads/dev")),
        ("push", {"ref": "refs/tags/v2"}, ("refs/tags/v2", "v2", "tag", "", "", "refs/tags/v2")),
        ("pull_request", pull, ("refs/pull/7/merge", "7/merge", "branch", "fix", "main",
                                "refs/heads/main")),
        ("pull_request_target", pull, ("refs/heads/main", "main", "branch", "fix", "main",
                                       "refs/heads/main")),
        ("workflow_dispatch", {"ref": "release"}, ("refs/heads/release", "release", "branch",
                                                   "", "", "refs/heads/release")),
    ]:  # fmt: skip
        ref = ref_of(event, payload, "dev")
        assert (ref.ref, ref.name, ref.type, ref.head_ref, ref.base_ref, ref.filtered) == wanted
    tagged = CONTEXT.__class__(**{**vars(CONTEXT), "ref": GitRef("refs/tags/v2")})
    env = tagged.environment(event_path=Path("/e"), action="a", temp=Path("/t"),
                             tool_cache=Path("/tc"))  # fmt: skip
    assert (env["GITHUB_REF_NAME"], env["GITHUB_REF_TYPE"]) == ("v2", "tag")
    assert tagged.as_context()["ref_type"] == "tag"
