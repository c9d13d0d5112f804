"""The unchanged workflows of dozens of public repositories all load and plan (`--list`)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest
import typer

from lockgate.cli.main import app
from lockgate.common.errors import UserError
from lockgate.workflow.tokens import plain, read_tokens

from ...conftest import CONFORMANCE, git, need

CORPUS = CONFORMANCE / "real-workflows"
COMMAND = typer.main.get_command(app)  # built once: typer's introspection is slow


def _events(path: Path) -> list[str]:
    on = (plain(read_tokens(path.read_text()).root) or {}).get("on")
    return [on] if isinstance(on, str) else list(on or [])


# One test per repository, so parallel workers share the corpus.
REPOSITORIES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else []


def test_the_corpus_is_there() -> None:
    need(CORPUS.is_dir(), f"{CORPUS} is missing (the real-workflows corpus)")
    assert len(REPOSITORIES) >= 59
    plans = sum(
        len(_events(workflow))
        for name in REPOSITORIES
        for workflow in (CORPUS / name / "workflows").iterdir()
    )
    assert plans > 1000  # what the tests below plan, one repository each


@pytest.mark.parametrize("name", REPOSITORIES)
def test_every_real_workflow_plans_for_every_event(tmp_path: Path, name: str) -> None:
    source = CORPUS / name
    failures, plans = [], 0
    repo = tmp_path / source.name
    shutil.copytree(source / "workflows", repo / ".github" / "workflows")
    if (source / "actions").is_dir():
        shutil.copytree(source / "actions", repo / ".github" / "actions")
    git(repo, "init", "-q")
    for workflow in sorted((repo / ".github" / "workflows").iterdir()):
        for event in _events(workflow):
            plans += 1
            args = ["run", event, "-W", str(workflow), "-C", str(repo), "--list", "-o", "json"]
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    COMMAND.main(args, prog_name="lockgate", standalone_mode=False)
            except UserError as exc:
                failures.append(f"{source.name}/{workflow.name} {event}: {exc}")
    assert not (repo / ".lockgate").exists(), "--list must not write anything"
    assert plans > 0
    assert not failures, "\n".join(failures[:20])
