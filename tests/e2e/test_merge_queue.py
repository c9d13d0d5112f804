"""The merge queue on a real server and a hooked bare repository: main only moves to merge
commits that passed; two changes green alone and red together never both reach main (the
second leaves the queue with the reason, the one behind it is tested again without it); a
direct push to main is refused; a branch that does not exist is refused when queued."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import git, lockgate, make_repo
from .fleet import eventually
from .forgedouble import COMMENTS as COMMENTS_PATH
from .forgedouble import MERGE as MERGE_PATH
from .forgedouble import REFS as REFS_PATH
from .forgedouble import STATUSES as STATUS_PATH
from .forgedouble import ForgeDouble
from .serving import (
    COMMENTS,
    REFS,
    STATUSES,
    Server,
    bare_repository,
    bearer,
    register,
    servers,
    signed,
    signed_headers,
    start_server,
)

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


# -- pull requests of a forge -------------------------------------------------------------------
GATED = (
    WORKFLOW
    + """      - name: held until the test lets it go
        run: for i in $(seq 1200); do test -e {go} && exit 0; sleep 0.1; done; exit 1
"""
)


def _forge(tmp_path: Path, kind: str, workflow: str, schemas: dict[str, Any],
           template: dict[str, Any]) -> tuple[Path, ForgeDouble]:  # fmt: skip
    """A working copy and the forge it pushes to (octo/app, a bare repository served as one)."""
    source = make_repo(tmp_path / "src", {".github/workflows/ci.yml": workflow})
    bare = tmp_path / "forge" / "octo" / "app"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(bare))
    git(source, "remote", "add", "origin", str(bare))
    return source, ForgeDouble(kind, bare, "octo/app", schemas, template)


def _deliver(server: Server, kind: str, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    if kind == "github":
        headers = signed_headers(event, body, delivery=str(uuid.uuid4()))
    else:  # as Gitea signs: the hex HMAC alone
        headers = {"x-gitea-event": event, "x-gitea-delivery": str(uuid.uuid4()),
                   "x-gitea-signature": signed(body).removeprefix("sha256=")}  # fmt: skip
    answer = httpx.post(f"{server.url}/webhooks/{kind}", content=body, headers=headers)
    assert answer.status_code < 300, answer.text
    return dict(answer.json())


def _entries(server: Server) -> dict[int, dict[str, Any]]:
    """The queue's newest entry per pull request."""
    found: dict[int, dict[str, Any]] = {}
    for entry in reversed(server.get("/api/v1/merge-queue")):
        if entry["pull"] is not None:
            found[entry["pull"]] = entry
    return found


def _queue_statuses(double: ForgeDouble) -> dict[str, list[str]]:
    """The merge queue's states, in order, per commit it set them on."""
    said: dict[str, list[str]] = {}
    for sent in double.of("POST", STATUS_PATH):
        if sent.body.get("context") == "lockgate/merge-queue":
            sha = sent.path.rsplit("/", 1)[1]
            said.setdefault(sha, []).append(sent.body["state"])
    return said


def test_github_pull_requests_go_through_the_queue_by_label_and_comment(
    servers: list[Server], tmp_path: Path, github_examples: list[dict[str, Any]],
    github_request_schemas: dict[str, Any],
) -> None:  # fmt: skip
    """GitHub's deliveries from its own examples: #1 and #2 labelled `merge-queue`, #3 asked
    for with `/merge` by a collaborator. main moves only through the API's fast-forward, to the
    merge commits that passed: #2 (red with #1) leaves with a failing status and a comment."""
    examples = {e["name"]: e["examples"] for e in github_examples}
    labeled = next(x for x in examples["pull_request"] if x["action"] == "labeled")
    commented = next(x for x in examples["issue_comment"] if x["action"] == "created")
    schemas = {"statuses": github_request_schemas[STATUSES],
               "comments": github_request_schemas[COMMENTS],
               "refs": github_request_schemas[REFS]}  # fmt: skip
    source, double = _forge(tmp_path, "github", WORKFLOW, schemas, labeled["pull_request"])
    api = double.start()
    for number, (branch, name) in enumerate(
        (("change-a", "a.flag"), ("change-b", "b.flag"), ("change-c", "c.txt")), start=1
    ):
        _change(source, branch, name)
        double.open_pull(number, branch)
    before = double.git("rev-parse", "main")
    server = start_server(tmp_path / "home", 2, "--merge-depth", "2", "--github-api", double.api,
                          LOCKGATE_GITHUB_TOKEN="forge-token")  # fmt: skip
    servers.append(server)
    register(server, f"file://{double.bare}", "github")
    repository = {**labeled["repository"], "full_name": "octo/app",
                  "clone_url": f"file://{double.bare}"}  # fmt: skip
    for number in (1, 2):
        answer = _deliver(server, "github", "pull_request", {
            **labeled, "number": number, "pull_request": double.pull_json(number),
            "label": {**labeled["label"], "name": "merge-queue"}, "repository": repository,
        })  # fmt: skip
        assert answer["merge_queue"].startswith(f"#{number} is in the merge queue")

    def comment(who: str, association: str) -> dict[str, Any]:
        return _deliver(server, "github", "issue_comment", {
            **commented, "repository": repository,
            "issue": {**commented["issue"], "number": 3,
                      "pull_request": {"url": "https://api.github.com/repos/octo/app/pulls/3"}},
            "comment": {**commented["comment"], "body": "/merge\r\n", "user": {"login": who},
                        "author_association": association},
        })  # fmt: skip

    refused = comment("mallory", "NONE")
    assert refused["merge_queue"].startswith("not queued: mallory may not write")
    assert 3 not in _entries(server)
    assert comment("carol", "COLLABORATOR")["merge_queue"].startswith("#3 is in the merge queue")
    missing = httpx.post(f"{server.url}/api/v1/merge-queue", headers=bearer(server.token),
                         json={"repository": f"file://{double.bare}", "pull": 42})  # fmt: skip
    assert missing.status_code == 422 and "has no pull request #42" in missing.text

    eventually(lambda: all(e["state"] in ("merged", "failed") for e in _entries(server).values()),
               180, "the queue to empty")  # fmt: skip
    entries = _entries(server)
    assert [entries[n]["state"] for n in (1, 2, 3)] == ["merged", "failed", "merged"]
    assert entries[2]["reason"].startswith("its merge commit failed (run ")
    assert entries[3]["added_by"] == "carol"
    history = double.git("log", "--first-parent", "--format=%s", f"{before}..main").splitlines()
    assert history == [
        f"Merge #3 (change-c) into main (merge queue #{entries[3]['id']})",
        f"Merge #1 (change-a) into main (merge queue #{entries[1]['id']})",
    ]
    assert double.git("rev-parse", "main") == entries[3]["candidate"]
    moves = double.of("PATCH", REFS_PATH)
    assert [m.body for m in moves] == [{"sha": entries[n]["candidate"], "force": False}
                                       for n in (1, 3)]  # fmt: skip
    heads = {n: double.git("rev-parse", f"refs/pull/{n}/head") for n in (1, 2, 3)}
    said = _queue_statuses(double)
    assert [said[heads[n]][-1] for n in (1, 2, 3)] == ["success", "failure", "success"]
    assert said[heads[1]][0] == "pending"
    # what main moved to carries the status too, as a branch rule requiring it checks
    assert [said[entries[n]["candidate"]] for n in (1, 3)] == [["success"], ["success"]]
    (told,) = [s for s in double.of("POST", COMMENTS_PATH) if s.path.endswith("/issues/2/comments")]
    assert "its merge commit failed" in told.body["body"]
    assert double.git("for-each-ref", "refs/heads/lockgate-queue/") == ""
    assert double.problems == []
    api.shutdown()


def test_gitea_pull_requests_merge_by_push_and_a_moved_target_is_tested_again(
    servers: list[Server], tmp_path: Path, gitea_request_schemas: dict[str, Any],
    github_examples: list[dict[str, Any]],
) -> None:  # fmt: skip
    """Gitea's label deliveries (the labels the pull request now has): #1 is tested, main moves
    under it (someone allowed to pushes), so its merge commit, built on the old main, is never
    pushed: it is tested again on the new main, then pushed and marked `manually-merged`. #2
    leaves when commits are pushed to it; a comment by someone who cannot write changes
    nothing. (The push's own compare-and-swap is tested in tests/unit/server.)"""
    go = tmp_path / "go"
    template = next(e for e in github_examples if e["name"] == "pull_request")["examples"][0]
    source, double = _forge(tmp_path, "gitea", GATED.replace("{go}", str(go)),
                            dict(gitea_request_schemas), template["pull_request"])  # fmt: skip
    api = double.start()
    _change(source, "change-a", "a.txt")
    double.open_pull(1, "change-a")
    _change(source, "change-b", "b.txt")
    double.open_pull(2, "change-b")
    server = start_server(tmp_path / "home", 2, "--merge-depth", "2", "--gitea-api", double.api,
                          LOCKGATE_GITEA_TOKEN="gitea-token")  # fmt: skip
    servers.append(server)
    register(server, f"file://{double.bare}", "gitea")
    repository = {"full_name": "octo/app", "clone_url": f"file://{double.bare}",
                  "permissions": {"admin": False, "push": True, "pull": True}}  # fmt: skip

    def labelled(number: int, *labels: str) -> dict[str, Any]:
        pull = {**double.pull_json(number), "labels": [{"name": n} for n in labels]}
        return _deliver(server, "gitea", "pull_request", {
            "action": "label_updated", "number": number, "pull_request": pull,
            "repository": repository, "sender": {"login": "alice"}})  # fmt: skip

    assert labelled(1, "bug", "merge-queue")["merge_queue"].startswith("#1 is in the merge queue")
    assert labelled(2, "merge-queue")["merge_queue"].startswith("#2 is in the merge queue")
    reader = _deliver(server, "gitea", "issue_comment", {
        "action": "created", "is_pull": True, "issue": {"number": 2},
        "comment": {"body": "/merge cancel"}, "sender": {"login": "mallory"},
        "repository": {**repository, "permissions": {"admin": False, "push": False, "pull": True}},
    })  # fmt: skip
    assert reader["merge_queue"].startswith("not queued: mallory may not write")
    eventually(lambda: _entries(server)[1]["state"] == "testing", 60, "#1 under test")
    first = _entries(server)[1]["candidate"]
    git(source, "checkout", "-q", "main")  # main moves under the queue
    (source / "direct.txt").write_text("pushed by someone allowed to\n")
    git(source, "add", "direct.txt")
    git(source, "commit", "-qm", "a direct change")
    assert _push(source, "main").returncode == 0
    moved = git(source, "rev-parse", "HEAD").strip()
    (source / "b2.txt").write_text("more\n")  # #2 is pushed to: it leaves
    git(source, "checkout", "-q", "change-b")
    git(source, "add", "b2.txt")
    git(source, "commit", "-qm", "more of b")
    assert _push(source, "change-b").returncode == 0
    double.open_pull(2, "change-b")
    pushed = _deliver(server, "gitea", "pull_request", {
        "action": "synchronized", "number": 2, "pull_request": double.pull_json(2),
        "repository": repository, "sender": {"login": "bob"}})  # fmt: skip
    assert (
        pushed["merge_queue"]
        == "#2 left the merge queue: commits were pushed to it: queue it again"
    )
    go.write_text("")
    eventually(lambda: _entries(server)[1]["state"] == "merged", 180, "#1 merged")
    entry = _entries(server)[1]
    assert entry["candidate"] != first and entry["base"] == moved  # tested again on the new main
    assert double.git("rev-parse", "main") == entry["candidate"]
    assert double.git("rev-parse", "main^1") == moved
    assert double.pulls[1].merged_as == entry["candidate"]
    assert [s.body for s in double.of("POST", MERGE_PATH)] == [
        {"Do": "manually-merged", "MergeCommitID": entry["candidate"]}
    ]
    assert _entries(server)[2]["state"] == "failed"
    head = double.git("rev-parse", "refs/pull/1/head")
    assert _queue_statuses(double)[head][-1] == "success"
    assert double.git("for-each-ref", "refs/heads/lockgate-queue/") == ""
    assert double.problems == []
    api.shutdown()
