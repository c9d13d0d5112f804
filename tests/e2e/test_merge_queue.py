"""The merge queue on a real server and a hooked bare repository: main only moves to merge
commits that passed; two changes green alone and red together never both reach main (the
second leaves the queue with the reason, the one behind it is tested again without it); a
direct push to main is refused; a branch that does not exist is refused when queued."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from ..conftest import git, lockgate
from .fleet import eventually
from .serving import Server, bare_repository, servers, start_server

__all__ = ["servers"]  # the fixture
pytestmark = pytest.mark.integration

WORKFLOW = """on: merge_group
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: a and b each work, not together
        run: test ! -e a.flag || test ! -e b.flag
"""


def _push(source: Path, *refs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(source), "push", "origin", *refs],
                          capture_output=True, text=True)  # fmt: skip


def _change(source: Path, branch: str, name: str) -> None:
    git(source, "checkout", "-q", "-b", branch, "main")
    (source / name).write_text(f"{branch}\n")
    git(source, "add", name)
    git(source, "commit", "-qm", f"add {name}")
    assert _push(source, branch).returncode == 0


def _queue(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return lockgate("queue", *args, "--home", str(server.home), cwd=server.home.parent)


def test_main_only_moves_to_merge_commits_that_passed(
    servers: list[Server], tmp_path: Path
) -> None:
    server = start_server(tmp_path / "home", 2, "--merge-depth", "2")
    servers.append(server)
    source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": WORKFLOW})
    installed = lockgate("hook", "install", str(bare), "--server", server.url, "--protect", "main",
                         "--token-file", str(server.home / "hook-token"), cwd=tmp_path)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    git(source, "remote", "add", "origin", str(bare))
    for branch, name in (("change-a", "a.flag"), ("change-b", "b.flag"), ("change-c", "c.txt")):
        _change(source, branch, name)
    git(source, "checkout", "-q", "main")
    git(source, "commit", "-q", "--allow-empty", "-m", "straight to main")
    refused = _push(source, "main")
    assert refused.returncode != 0 and "main is protected" in refused.stderr
    missing = _queue(server, "add", "nope", "--repository", str(bare))
    assert missing.returncode == 2 and "has no branch 'nope'" in missing.stderr
    before = git(bare, "rev-parse", "main").strip()
    for branch in ("change-a", "change-b", "change-c"):
        added = _queue(server, "add", branch, "--repository", str(bare))
        assert added.returncode == 0, added.stderr

    def settled() -> bool:
        states = {e["branch"]: e["state"] for e in server.get("/api/v1/merge-queue")}
        return all(state in ("merged", "failed") for state in states.values())

    eventually(settled, 180, "the queue to empty")
    entries = {e["branch"]: e for e in server.get("/api/v1/merge-queue")}
    assert entries["change-a"]["state"] == "merged" and entries["change-c"]["state"] == "merged"
    assert entries["change-b"]["state"] == "failed"
    assert entries["change-b"]["reason"].startswith("its merge commit failed (run ")
    # main: the two merge commits, a's then c's, on the tip it had; never b.flag
    history = git(bare, "log", "--first-parent", "--format=%s", f"{before}..main").splitlines()
    assert history == [
        f"Merge change-c into main (merge queue #{entries['change-c']['id']})",
        f"Merge change-a into main (merge queue #{entries['change-a']['id']})",
    ]
    tree = git(bare, "ls-tree", "--name-only", "main").split()
    assert "a.flag" in tree and "c.txt" in tree and "b.flag" not in tree
    assert git(bare, "rev-parse", "main").strip() == entries["change-c"]["candidate"]
    leftover = git(bare, "for-each-ref", "refs/heads/lockgate-queue/").strip()
    assert leftover == ""  # the queue's branches go with their changes
    listed = _queue(server, "list").stdout
    assert "failed\tchange-b -> main\tits merge commit failed" in listed
    with httpx.Client(base_url=server.url) as browser:  # the page, as a logged-in reader sees it
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text)
        assert csrf is not None
        browser.post("/login", data={"token": server.token, "csrf": csrf.group(1)})
        page = browser.get("/merge-queue").text
    assert f'data-entry="{entries["change-b"]["id"]}"' in page and "its merge commit failed" in page
