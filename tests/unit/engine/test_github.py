"""The github context: what expressions see and what a step's environment holds, from one
typed record."""

from __future__ import annotations

from pathlib import Path

from lockgate.engine.github import GitHubContext

CONTEXT = GitHubContext(
    event_name="push",
    sha="abc123",
    ref="refs/heads/main",
    ref_name="main",
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
