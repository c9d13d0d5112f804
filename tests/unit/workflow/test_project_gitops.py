"""lockgate.yml's `gitops:` source: what it accepts, and what it refuses before git sees it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.workflow.project import load_project


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "lockgate.yml").write_text(text)
    return load_project(tmp_path).gitops


def test_a_source_with_defaults(tmp_path: Path) -> None:
    found = _load(tmp_path, "gitops:\n  repository: https://git.example/config.git\n")
    assert (found.branch, found.path, found.interval) == ("main", "", 30.0)
    found = _load(tmp_path, "gitops: {repository: /srv/c.git, path: ./envs/, interval: 2m}\n")
    assert (found.path, found.interval) == ("envs", 120.0)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("{repository: --upload-pack=touch /tmp/x}", "is not a repository URL"),
        ("{repository: r, path: ../../etc}", "must be a folder inside the repository"),
        ("{repository: r, path: /etc}", "must be a folder inside the repository"),
        ("{repository: r, branch: -x}", "is not a branch name"),
        ("{repository: r, branch: a..b}", "is not a branch name"),
        ("{repository: r, interval: 0.1}", "poll at most once a second"),
        ("{repository: r, interval: soon}", "is not a duration"),
        ("{branch: main}", "missing required key 'repository'"),
    ],
)
def test_a_bad_source_is_refused_at_its_place(tmp_path: Path, line: str, said: str) -> None:
    with pytest.raises(UserError) as caught:
        _load(tmp_path, f"gitops: {line}\n")
    assert said in caught.value.message
    assert caught.value.where.startswith("lockgate.yml:1:")
