"""The config repository read through real git: fetched into a bare copy, one commit's folder
read, refs checked before git sees them, credentials never shown."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.common.gitinfo import without_credentials
from lockgate.deploy.gitops import source
from lockgate.deploy.gitops.source import ConfigRepository, Unreachable
from lockgate.workflow.project import GitopsSourceSettings

from .configrepo import commit

DIGEST = "e" * 64


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, ConfigRepository]:
    repo = tmp_path / "config"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    settings = GitopsSourceSettings.model_validate({"repository": str(repo), "path": "envs"})
    return repo, ConfigRepository(settings, tmp_path / "state")


def test_a_commit_is_fetched_and_its_folder_read(config: tuple[Path, ConfigRepository]) -> None:
    repo, found = config
    sha = commit(repo, {"envs/environments/web.yaml": f"app: web\ndigest: {DIGEST}\n"})
    fetched = found.fetch()
    assert (fetched.sha, fetched.author, fetched.subject) == (sha, "Ann <ann@example.com>", "envs")
    with found.tree(fetched) as tree:
        assert tree.problems == [] and tree.environments["web"].digest == DIGEST
    assert found.fetch("main").sha == sha and found.fetch(sha[:12]).sha == sha


def test_refs_are_checked_before_git_sees_them(config: tuple[Path, ConfigRepository]) -> None:
    repo, found = config
    commit(repo, {"envs/environments/web.yaml": f"app: web\ndigest: {DIGEST}\n"})
    for bad in ("--upload-pack=touch /tmp/owned", "main:evil", "a b", "HEAD~1"):
        with pytest.raises(UserError):
            found.fetch(bad)
    with pytest.raises(Unreachable):
        found.fetch("no-such-branch")


def test_a_folder_too_large_to_be_settings_is_refused(
    config: tuple[Path, ConfigRepository], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, found = config
    commit(repo, {"envs/environments/web.yaml": f"app: web\ndigest: {DIGEST}\n# {'x' * 4000}\n"})
    monkeypatch.setattr(source, "MAX_TREE", 1000)
    with found.tree(found.fetch()) as tree:
        assert len(tree.problems) == 1 and "more than 1000" in tree.problems[0].message


def test_credentials_in_a_url_are_never_shown() -> None:
    said = "fatal: unable to access 'https://bob:hunter2@git.example/c.git/': 403"
    assert (
        without_credentials(said) == "fatal: unable to access 'https://***@git.example/c.git/': 403"
    )
    settings = GitopsSourceSettings.model_validate({"repository": "https://t0k3n@git.example/c"})
    assert "t0k3n" not in ConfigRepository(settings, Path("/nowhere")).key
