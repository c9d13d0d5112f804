"""Moving a Gitea repository's branch to a tested merge commit by a push: a compare-and-swap
on the tip the commit was built on, against a real repository reached by file://."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from lockgate.common.ports import free_port
from lockgate.server.pullrequests import git_env, move
from lockgate.server.statuses import Forge


def git(where: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(where), *args], check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def test_a_push_moves_the_target_only_from_the_tip_it_was_built_on(tmp_path: Path) -> None:
    work, forge, mirror = tmp_path / "work", tmp_path / "forge", tmp_path / "mirror"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    identity = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    git(work, *identity, "commit", "-q", "--allow-empty", "-m", "start")
    start = git(work, "rev-parse", "HEAD")
    git(work, *identity, "commit", "-q", "--allow-empty", "-m", "tested merge")
    tested = git(work, "rev-parse", "HEAD")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(forge)], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirror)], check=True)
    git(forge, "update-ref", "refs/heads/main", start)
    gitea = Forge("gitea", f"http://127.0.0.1:{free_port()}/api/v1", "t0ken")  # answers nothing
    stale = "0" * 39 + "1"
    assert not move(gitea, "octo/app", mirror, str(forge), 1, "main", tested, stale)
    assert git(forge, "rev-parse", "main") == start  # refused: nothing moved
    assert move(gitea, "octo/app", mirror, str(forge), 1, "main", tested, start)
    assert git(forge, "rev-parse", "main") == tested  # moved; the unanswered mark is only said


def test_the_token_reaches_git_as_a_header_never_in_arguments() -> None:
    env = git_env(Forge("github", "https://api.github.com", "ghp_secret"))
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    basic = env["GIT_CONFIG_VALUE_0"].removeprefix("Authorization: Basic ")
    assert base64.b64decode(basic) == b"x-access-token:ghp_secret"  # as actions/checkout sends
    gitea = git_env(Forge("gitea", "https://gitea.example/api/v1", "g"))
    assert gitea["GIT_CONFIG_VALUE_0"] == "Authorization: token g"
