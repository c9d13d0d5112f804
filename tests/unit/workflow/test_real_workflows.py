"""The unchanged workflows of dozens of public repositories all load and plan (`--list`)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import typer

from lockgate.cli.main import app
from lockgate.common.errors import UserError
from lockgate.workflow.tokens import plain, read_tokens

from ...conftest import CONFORMANCE, git, need

CORPUS = CONFORMANCE / "real-workflows"


def _events(path: Path) -> list[str]:
    on = (plain(read_tokens(path.read_text()).root) or {}).get("on")
    return [on] if isinstance(on, str) else list(on or [])


def test_every_real_workflow_plans_for_every_event(tmp_path: Path) -> None:
    need(CORPUS.is_dir(), f"{CORPUS} is missing (the real-workflows corpus)")
    command = typer.main.get_command(app)  # built once: typer's introspection is slow
    failures, plans = [], 0
    for source in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
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
                        command.main(args, prog_name="lockgate", standalone_mode=False)
                except UserError as exc:
                    failures.append(f"{source.name}/{workflow.name} {event}: {exc}")
        assert not (repo / ".lockgate").exists(), "--list must not write anything"
    assert plans > 1000
    assert not failures, "\n".join(failures[:20])
