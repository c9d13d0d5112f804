"""`lockgate serve`: webhooks verified before they are read (GitHub's own example payloads from
the npm package @octokit/webhooks-examples, installed by the fixture), redeliveries recognised,
bad bodies refused; a push to a bare repository with lockgate's hook runs its workflow; and a
server killed with -9 loses no queued or running run."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import itertools
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import update

from lockgate.common.ports import free_port
from lockgate.engine.refs import ref_of
from lockgate.server import webhooks
from lockgate.server.statuses import Forge, Status, request_for
from lockgate.store import Store, tables
from lockgate.store.concurrency import ConcurrencyGroups
from lockgate.store.queue import Trigger

from ..conftest import LOCKGATE, git, lockgate, need
from .fleet import eventually
from .serving import (
    SECRET,
    STATUSES,
    FakeForge,
    Server,
    bare_repository,
    bearer,
    dispatch,
    make_token,
    register,
    servers,
    signed,
    signed_headers,
    sse_events,
    start_server,
)
from .sshd import SSHD, Host, keygen

__all__ = ["servers"]  # the fixture


def test_every_github_example_is_verified_and_read(github_examples: list[dict[str, Any]]) -> None:
    queued: dict[str, int] = {}
    for event in github_examples:
        for number, example in enumerate(event["examples"]):
            body = json.dumps(example).encode()
            headers = signed_headers(event["name"], body, f"{event['name']}-{number}")
            webhooks.verify("github", SECRET.encode(), headers, body)
            with pytest.raises(webhooks.Unauthorized):
                webhooks.verify("github", b"another secret", headers, body)
            trigger = webhooks.parse("github", headers, body)
            if trigger is not None:
                queued[event["name"]] = queued.get(event["name"], 0) + 1
                assert trigger.after and trigger.repository.startswith("https://")
    assert set(queued) == {"push", "pull_request", "workflow_dispatch"}
    push = next(e for e in github_examples if e["name"] == "push")["examples"][0]
    trigger = webhooks.parse("github", signed_headers("push", b"{}"), json.dumps(push).encode())
    assert isinstance(trigger, Trigger) and (trigger.ref, trigger.after) == (
        push["ref"], push["after"]
    )  # fmt: skip


def test_each_github_example_gets_the_refs_and_actor_github_gives(
    github_examples: list[dict[str, Any]],
) -> None:
    """GITHUB_REF, _REF_NAME, _REF_TYPE, _HEAD_REF, _BASE_REF and the actor, from GitHub's
    own example deliveries, as GitHub's documentation says a run of each event sees them."""
    seen: dict[str, set[tuple[str, ...]]] = {}
    for event in github_examples:
        for example in event["examples"]:
            trigger = webhooks.parse("github", signed_headers(event["name"], b"{}"),
                                     json.dumps(example).encode())  # fmt: skip
            if trigger is None:
                continue
            ref = ref_of(trigger.event, trigger.payload, "checked-out")
            seen.setdefault(trigger.event, set()).add(
                (ref.ref, ref.name, ref.type, ref.head_ref, ref.base_ref, trigger.actor)
            )
    assert seen["push"] == {
        ("refs/tags/simple-tag", "simple-tag", "tag", "", "", "Codertocat"),
        ("refs/heads/master", "master", "branch", "", "", "Codertocat"),
    }
    assert seen["pull_request"] == {
        ("refs/pull/2/merge", "2/merge", "branch", "changes", "master", "Codertocat")
    }
    assert seen["workflow_dispatch"] == {
        ("refs/heads/main", "main", "branch", "", "", "octocat"),
        ("refs/heads/master", "master", "branch", "", "", "Codertocat"),
    }


def test_gitea_and_gitlab_deliveries() -> None:
    push = {"ref": "refs/heads/main", "before": "a" * 40, "after": "b" * 40,
            "repository": {"clone_url": "https://gitea.example/o/r.git"}}  # fmt: skip
    body = json.dumps(push).encode()
    signature = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    headers = {"x-gitea-event": "push", "x-gitea-delivery": "u1", "x-gitea-signature": signature}
    webhooks.verify("gitea", b"k", headers, body)
    trigger = webhooks.parse("gitea", headers, body)
    assert trigger is not None and trigger.delivery == "gitea:u1" and trigger.after == "b" * 40
    lab = {"ref": "refs/tags/v1", "before": "0" * 40, "after": "c" * 40,
           "project": {"git_http_url": "https://gitlab.example/o/r.git"}}  # fmt: skip
    headers = {"x-gitlab-token": "k", "x-gitlab-event": "Tag Push Hook",
               "x-gitlab-event-uuid": "u2"}  # fmt: skip
    webhooks.verify("gitlab", b"k", headers, b"")
    with pytest.raises(webhooks.Unauthorized):
        webhooks.verify("gitlab", b"other", headers, b"")
    trigger = webhooks.parse("gitlab", headers, json.dumps(lab).encode())
    assert trigger is not None and trigger.ref == "refs/tags/v1"
    for bad in (b"[1]", b"not json", json.dumps({"ref": 1}).encode()):
        with pytest.raises(webhooks.BadDelivery):
            webhooks.parse("gitea", {"x-gitea-event": "push", "x-gitea-delivery": "u3"}, bad)


def _pull_request(action: str) -> bytes:
    head = {"sha": "d" * 40, "repo": {"clone_url": "https://gitea.example/o/r.git"}}
    return json.dumps({"action": action, "number": 7, "pull_request": {
        "head": head, "base": {"sha": "e" * 40}}}).encode()  # fmt: skip


def test_pull_request_actions_as_each_forge_spells_them() -> None:
    """Gitea says `synchronized` where GitHub says `synchronize` (Gitea's
    modules/structs/hook.go); the run sees GitHub's word either way."""
    for forge, action in (("gitea", "synchronized"), ("github", "synchronize")):
        prefix = f"x-{forge}"
        headers = {f"{prefix}-event": "pull_request", f"{prefix}-delivery": f"{forge}-7"}
        trigger = webhooks.parse(forge, headers, _pull_request(action))
        assert trigger is not None and trigger.ref == "refs/pull/7/head"
        assert trigger.payload["action"] == "synchronize" and trigger.after == "d" * 40
    for forge, action in (("gitea", "closed"), ("github", "labeled"), ("github", "synchronized")):
        headers = {f"x-{forge}-event": "pull_request", f"x-{forge}-delivery": "x"}
        assert webhooks.parse(forge, headers, _pull_request(action)) is None
    merge = {"object_attributes": {"action": "update", "iid": 3, "last_commit": {"id": "f" * 40},
                                   "source": {"git_http_url": "https://gitlab.example/o/r.git"}}}  # fmt: skip
    headers = {"x-gitlab-event": "Merge Request Hook", "x-gitlab-event-uuid": "m1"}
    assert webhooks.parse("gitlab", headers, json.dumps(merge).encode()) is None  # a retitle
    merge["object_attributes"]["oldrev"] = "a" * 40  # new commits
    trigger = webhooks.parse("gitlab", headers, json.dumps(merge).encode())
    assert trigger is not None and trigger.ref == "refs/merge-requests/3/head"


@pytest.mark.integration
def test_webhooks_are_checked_before_anything_is_queued(
    servers: list[Server], tmp_path: Path, github_examples: list[dict[str, Any]]
) -> None:
    server = start_server(tmp_path / "home", 0)  # no worker: what is queued stays queued
    servers.append(server)
    push = next(e for e in github_examples if e["name"] == "push")["examples"][0]
    body = json.dumps(push).encode()
    hook = server.url + "/webhooks/github"
    wrong = {**signed_headers("push", body), "x-hub-signature-256": signed(body, "guess")}
    assert httpx.post(hook, content=body, headers=wrong).status_code == 401
    unsigned = {k: v for k, v in signed_headers("push", body).items() if "signature" not in k}
    assert httpx.post(hook, content=body, headers=unsigned).status_code == 401
    assert server.get("/api/v1/queue") == []  # nothing was queued
    malformed = b'{"ref": '
    answer = httpx.post(hook, content=malformed, headers=signed_headers("push", malformed))
    assert answer.status_code == 400 and "JSON" in answer.json()["detail"]
    unknown = httpx.post(hook, content=body, headers=signed_headers("push", body, "early"))
    assert unknown.status_code == 404 and "lockgate repo add" in unknown.json()["detail"]
    assert any(e["action"] == "refused: unregistered repository"
               for e in server.get("/api/v1/audit"))  # fmt: skip
    register(server, push["repository"]["clone_url"], "github")
    first = httpx.post(hook, content=body, headers=signed_headers("push", body, "same-delivery"))
    again = httpx.post(hook, content=body, headers=signed_headers("push", body, "same-delivery"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and again.json()["new"] is False
    # a repository with a webhook secret of its own: the server's does not sign for it
    own = "its own secret, not the server's"
    register(server, "https://github.com/octo/private.git", "github", secret=own)
    private = {**push, "repository": {**push["repository"], "full_name": "octo/private",
                                      "clone_url": "https://github.com/octo/private.git"}}  # fmt: skip
    other = json.dumps(private).encode()
    assert httpx.post(hook, content=other, headers=signed_headers("push", other, "p1")
                      ).status_code == 401  # fmt: skip
    right = {**signed_headers("push", other, "p2"), "x-hub-signature-256": signed(other, own)}
    assert httpx.post(hook, content=other, headers=right).status_code == 201
    assert own.encode() not in b"".join(
        p.read_bytes() for p in (server.home / ".lockgate").glob("lockgate.db*")
    )
    big = b" " * (6 << 20)
    assert httpx.post(hook, content=big, headers=signed_headers("push", big)).status_code == 413
    item, _private = server.get("/api/v1/queue")[::-1]
    assert item["status"] == "queued" and item["trigger"]["after"] == push["after"]


WORKFLOW = """on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: sleep "$(cat delay)" && echo built from the server
      - run: echo "ref=$GITHUB_REF name=$GITHUB_REF_NAME type=$GITHUB_REF_TYPE by=$GITHUB_ACTOR"
"""


@pytest.mark.integration
def test_a_push_runs_and_a_killed_server_loses_nothing(
    servers: list[Server], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": WORKFLOW, "delay": "0\n",
                                          "lockgate.yml": "server:\n  interrupted: report\n"})  # fmt: skip
    first = start_server(home, 0)  # queues only
    servers.append(first)
    done = lockgate("hook", "install", str(bare), "--server", first.url,
                    "--token-file", str(home / "hook-token"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    git(source, "remote", "add", "origin", str(bare))
    (source / "delay").write_text("0\n")
    git(source, "commit", "-qam", "again", "--allow-empty")
    pushed = subprocess.run(["git", "-C", str(source), "push", "-q", "origin", "main"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert "queued" in pushed.stderr
    first.process.send_signal(signal.SIGKILL)  # with the run queued, not taken
    first.process.wait()
    second = start_server(home, 1, port=first.port)  # where the hook sends
    servers.append(second)

    eventually(lambda: second.get("/api/v1/queue")[0]["status"] == "done", 120, "run")
    (item,) = second.get("/api/v1/queue")
    assert item["exit_code"] == 0 and item["trigger"]["source"] == "git"
    (run,) = second.get("/api/v1/runs")
    assert run["conclusion"] == "success" and run["sha"] == item["trigger"]["after"]
    events = sse_events(second, f"/api/v1/runs/{run['id']}/logs")
    lines = [json.loads(data) for kind, data in events if kind == "line"]
    assert any("built from the server" in line["line"] for line in lines)
    assert events[-1] == ("end", '{"conclusion": "success"}')
    again = sse_events(second, f"/api/v1/runs/{run['id']}/logs?after={lines[-1]['id']}")
    assert again == [("end", '{"conclusion": "success"}')]  # a reconnect misses nothing
    raw = httpx.get(f"{second.url}/api/v1/runs/{run['id']}/logs.txt", params={"job": "build"},
                    headers=bearer(second.token))  # fmt: skip
    assert raw.status_code == 200 and "attachment" in raw.headers["content-disposition"]
    said = next(line for line in raw.text.splitlines() if "built from the server" in line)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[build\] ", said), said
    assert httpx.get(f"{second.url}/api/v1/runs/{run['id']}/logs.txt").status_code == 401
    missing = httpx.get(f"{second.url}/api/v1/runs/{run['id']}/logs.txt", params={"job": "x"},
                        headers=bearer(second.token))  # fmt: skip
    assert missing.status_code == 404
    (source / "delay").write_text("30\n")  # a run still running when its server dies
    git(source, "commit", "-qam", "slow")
    git(source, "push", "-q", "origin", "main")
    # killed once the run started: the worker has read the repository's choice by then
    eventually(lambda: len(second.get("/api/v1/runs")) == 2, 60, "the second run started")
    second.process.send_signal(signal.SIGKILL)
    second.process.wait()
    third = start_server(home, 0, port=first.port)  # requeues, unless the repository says
    servers.append(third)
    newest = third.get("/api/v1/queue")[0]
    assert newest["status"] == "interrupted" and "stopped" in newest["message"]

    # a tag pushed while the server is down: spooled by the hook, queued once at the start
    third.process.send_signal(signal.SIGKILL)
    third.process.wait()
    (source / "delay").write_text("0\n")
    git(source, "commit", "-qam", "release")
    git(source, "tag", "v1.0")
    down = subprocess.run(["git", "-C", str(source), "push", "-q", "origin", "v1.0"],
                          capture_output=True, text=True, env={**os.environ, "GL_USER": "ana"},
                          check=True)  # fmt: skip
    assert "spooled" in down.stderr, down.stderr
    fourth = start_server(home, 1, port=first.port)
    servers.append(fourth)
    eventually(lambda: fourth.get("/api/v1/queue")[0]["status"] == "done", 120, "the tag's run")
    tagged = fourth.get("/api/v1/queue")[0]
    assert tagged["trigger"]["ref"] == "refs/tags/v1.0" and tagged["exit_code"] == 0
    assert len(fourth.get("/api/v1/queue")) == 3  # queued once
    assert not any((bare / "lockgate-spool").glob("*.json"))
    (newest_run, *_) = fourth.get("/api/v1/runs")
    logs = [json.loads(d)["line"] for k, d in sse_events(fourth, f"/api/v1/runs/{newest_run['id']}/logs")
            if k == "line"]  # fmt: skip
    assert any("ref=refs/tags/v1.0 name=v1.0 type=tag by=ana" in line for line in logs), logs


# -- commit statuses, checked against GitHub's published OpenAPI description --------------------


def test_status_requests_follow_githubs_schema(status_schema: dict[str, Any]) -> None:
    forge = Forge("github", "https://api.github.com", "tok")
    for state in ("pending", "success", "failure", "error"):
        sent = request_for(forge, "octo/app", "a" * 40, Status(state, "http://ci/1", "done"))
        jsonschema.validate(sent.body, status_schema)
        assert sent.url == "https://api.github.com" + STATUSES.format(
            owner="octo", repo="app", sha="a" * 40
        )  # fmt: skip
        assert sent.headers["Authorization"] == "Bearer tok"
    with pytest.raises(jsonschema.ValidationError):  # the check has teeth
        jsonschema.validate({"state": "running"}, status_schema)
    gitea = request_for(Forge("gitea", "https://gitea.example/api/v1", "t"), "o/r", "b" * 40,
                        Status("success", "http://ci/1", "ok"))  # fmt: skip
    assert gitea.url == f"https://gitea.example/api/v1/repos/o/r/statuses/{'b' * 40}"
    assert gitea.headers["Authorization"] == "token t"


@pytest.mark.integration
def test_a_run_reports_its_status_to_the_commit(
    servers: list[Server], tmp_path: Path, github_examples: list[dict[str, Any]],
    status_schema: dict[str, Any], fake_forge: FakeForge,
) -> None:  # fmt: skip
    api, received = fake_forge.api, fake_forge.received
    source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": WORKFLOW, "delay": "0\n"})
    sha = git(source, "rev-parse", "HEAD")
    push = next(e for e in github_examples if e["name"] == "push")["examples"][0]
    push = {**push, "ref": "refs/heads/main", "before": "0" * 39 + "1", "after": sha,
            "repository": {**push["repository"], "clone_url": str(bare),
                           "full_name": "octo/app"}}  # fmt: skip
    server = start_server(
        tmp_path / "home", 1, "--github-api", api, LOCKGATE_GITHUB_TOKEN="forge-token"
    )
    servers.append(server)
    register(server, bare)
    body = json.dumps(push).encode()
    answer = httpx.post(server.url + "/webhooks/github", content=body,
                        headers=signed_headers("push", body))  # fmt: skip
    assert answer.status_code == 201
    eventually(lambda: len(received) == 2, 120, "pending, then the result")
    assert [r[2]["state"] for r in received] == ["pending", "success"]
    for path, headers, sent in received:
        assert path == f"/repos/octo/app/statuses/{sha}"
        assert headers["Authorization"] == "Bearer forge-token"
        jsonschema.validate(sent, status_schema)
        assert sent["target_url"] == f"{server.url}/queue/{answer.json()['id']}"


@pytest.mark.integration
def test_tokens_roles_and_the_audit_trail(servers: list[Server], tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", 0)
    servers.append(server)
    viewer = make_token(server.home, "reader", "viewer")
    operator = make_token(server.home, "ops", "operator")
    assert httpx.get(server.url + "/api/v1/queue").status_code == 401
    described = httpx.get(server.url + "/docs").text  # the API's own page: nothing from a CDN
    assert "/api/v1/runs/{run_id}/logs" in described and "cdn" not in described.lower()
    assert "/api/v1/environments/{name}/deploy" in httpx.get(server.url + "/openapi.json").text
    assert httpx.get(server.url + "/api/v1/queue", headers=bearer("lg_guess")).status_code == 401
    assert server.get("/api/v1/queue", viewer) == []
    for insight in ("tests", "flaky", "gates"):  # the same answers as `lockgate insights`
        assert server.get(f"/api/v1/insights/{insight}", viewer) == []
    assert server.get("/api/v1/insights/slow", viewer)["budget"] == 600.0
    dora = server.get("/api/v1/insights/dora?days=7", viewer)
    assert dora[0]["name"] == "deployment frequency" and len(dora) == 5
    assert httpx.get(server.url + "/api/v1/insights/flaky").status_code == 401
    run = {"repository": "https://example.invalid/o/r.git", "ref": "refs/heads/main",
           "inputs": {"level": "3"}}  # fmt: skip
    refused = httpx.post(server.url + "/api/v1/runs", json=run, headers=bearer(viewer))
    assert refused.status_code == 403 and "operator" in refused.json()["detail"]
    assert server.get("/api/v1/queue", viewer) == []  # nothing happened
    unknown = httpx.post(server.url + "/api/v1/runs", json=run, headers=bearer(operator))
    assert unknown.status_code == 404  # not a repository this server runs
    refused_add = httpx.post(server.url + "/api/v1/repositories", headers=bearer(operator),
                             json={"source": run["repository"], "forge": "github"})  # fmt: skip
    assert refused_add.status_code == 403  # admins register
    register(server, run["repository"], "github")
    assert lockgate("repo", "list", "--home", str(server.home), cwd=tmp_path).stdout.startswith(
        "r\thttps://example.invalid/o/r\tgithub"
    )
    asked = httpx.post(server.url + "/api/v1/runs", json=run, headers=bearer(operator))
    assert asked.status_code == 201
    (item,) = server.get("/api/v1/queue", viewer)
    assert item["trigger"]["event"] == "workflow_dispatch" and item["trigger"]["source"] == "manual"
    assert httpx.get(server.url + "/api/v1/audit", headers=bearer(operator)).status_code == 403
    refusal, added, event = server.get("/api/v1/audit")[::-1][:3]
    assert (refusal["actor"], refusal["action"]) == ("ops", "refused: unregistered repository")
    assert added["action"] == "repository added"
    assert (event["actor"], event["action"]) == ("ops", "queue workflow_dispatch")
    stored = b"".join(p.read_bytes() for p in (server.home / ".lockgate").glob("lockgate.db*"))
    assert stored and operator.encode() not in stored and viewer.encode() not in stored
    assert (
        lockgate("token", "revoke", "ops", "--home", str(server.home), cwd=tmp_path).returncode == 0
    )
    assert (
        httpx.post(server.url + "/api/v1/runs", json=run, headers=bearer(operator)).status_code
        == 401
    )


@pytest.mark.integration
def test_a_repository_git_would_read_as_an_option_is_never_fetched(
    servers: list[Server], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    evil = f"--upload-pack=touch {marker}"
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    operator = make_token(server.home, "ops", "operator")
    asked = httpx.post(server.url + "/api/v1/runs", headers=bearer(operator),
                       json={"repository": evil, "ref": "refs/heads/main"})  # fmt: skip
    assert asked.status_code == 422  # refused at the door
    push = {"ref": "refs/heads/main", "before": "a" * 40, "after": "b" * 40,
            "repository": {"clone_url": evil}}  # fmt: skip
    body = json.dumps(push).encode()  # signed: a forge that was tricked, say
    queued = httpx.post(
        server.url + "/webhooks/github", content=body, headers=signed_headers("push", body)
    )
    assert queued.status_code == 404  # a server runs only what it was told to
    added = httpx.post(server.url + "/api/v1/repositories", headers=bearer(server.token),
                       json={"source": evil})  # fmt: skip
    assert added.status_code == 422 and "not a repository's path or URL" in added.text
    assert server.get("/api/v1/queue") == [] and not marker.exists()


# -- schedules, cancel and rerun, artifacts, incidents ---------------------------------------------
SCHEDULED = """on:
  schedule:
    - cron: "*/5 * * * *"
jobs:
  nightly:
    runs-on: ubuntu-latest
    steps:
      - run: echo "scheduled by ${{ github.event.schedule }}"
"""


@pytest.mark.integration
def test_a_schedule_of_the_default_branch_runs_its_workflow(
    servers: list[Server], tmp_path: Path
) -> None:
    source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": WORKFLOW, "delay": "0\n",
                                          ".github/workflows/nightly.yml": SCHEDULED})  # fmt: skip
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    register(server, bare)
    operator = make_token(server.home, "ops", "operator")
    asked = dispatch(server, bare, operator)
    assert asked.status_code == 201  # a manual run has no schedule to record: only pushes do
    push = {"ref": "refs/heads/main", "before": "0" * 40, "after": git(source, "rev-parse", "HEAD"),
            "repository": {"clone_url": str(bare), "default_branch": "main"}}  # fmt: skip
    body = json.dumps(push).encode()
    httpx.post(server.url + "/webhooks/github", content=body, headers=signed_headers("push", body))
    eventually(lambda: server.get("/api/v1/schedules") != [], 120, "the schedule recorded")
    # each queued run shows its plan (as `lockgate run --list` has it) once fetched
    pushed = next(q for q in server.get("/api/v1/queue") if q["trigger"]["event"] == "push")
    eventually(lambda: server.get(f"/api/v1/queue/{pushed['id']}")["plan"] is not None, 60)
    plan = server.get(f"/api/v1/queue/{pushed['id']}")["plan"]
    assert [[job["job"] for job in stage] for stage in plan["workflows"][0]["stages"]] == [
        ["build"]
    ]
    assert plan["workflows"][0]["stages"][0][0]["runs_on"] == "ubuntu-latest"
    assert [n["file"] for n in plan["not_triggered"]] == [".github/workflows/nightly.yml"]
    manual = asked.json()["id"]
    eventually(lambda: server.get(f"/api/v1/queue/{manual}")["plan"] is not None, 60)
    page = httpx.get(f"{server.url}/queue/{manual}", headers=bearer(operator), timeout=10)
    assert page.status_code == 200 and 'id="plan"' in page.text and "Not triggered" in page.text
    (schedule,) = server.get("/api/v1/schedules")
    assert (schedule["workflow_file"], schedule["cron"]) == (
        ".github/workflows/nightly.yml", "*/5 * * * *"
    )  # fmt: skip
    assert time.gmtime(schedule["next_at"]).tm_min % 5 == 0 and schedule["next_at"] > time.time()
    store = Store(f"sqlite:///{server.home / '.lockgate' / 'lockgate.db'}")
    with store.engine.begin() as conn:  # its time has come (rather than wait up to 5 minutes)
        conn.execute(update(tables.schedules).values(next_at=time.time() - 1))
    eventually(lambda: any(r["event"] == "schedule" for r in server.get("/api/v1/runs")), 120,
               "the scheduled run")  # fmt: skip
    scheduled = next(r for r in server.get("/api/v1/runs") if r["event"] == "schedule")
    assert scheduled["workflow_file"].endswith("nightly.yml")  # that workflow only
    eventually(lambda: server.get(f"/api/v1/runs/{scheduled['id']}")["status"] == "completed", 60)
    lines = [json.loads(d)["line"] for k, d in sse_events(server, f"/api/v1/runs/{scheduled['id']}/logs")
             if k == "line"]  # fmt: skip
    assert "scheduled by */5 * * * *" in lines
    assert server.get("/api/v1/schedules")[0]["next_at"] > time.time()  # and it moved on


SLOW = """on: [push, workflow_dispatch]
jobs:
  slow:
    runs-on: ubuntu-latest
    steps:
      - run: echo started && sleep 120
"""


@pytest.mark.integration
def test_operators_cancel_and_rerun(servers: list[Server], tmp_path: Path) -> None:
    _source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": SLOW})
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    register(server, bare)
    operator, viewer = (make_token(server.home, n, r) for n, r in (("ops", "operator"),
                                                                    ("reader", "viewer")))  # fmt: skip
    for number in range(2):  # the second waits while the only worker runs the first
        run = {"repository": str(bare), "ref": "refs/heads/main", "inputs": {"n": str(number)}}
        assert httpx.post(server.url + "/api/v1/runs", json=run,
                          headers=bearer(operator)).status_code == 201  # fmt: skip
    eventually(lambda: len(server.get("/api/v1/runs")) == 1, 60, "the first run started")
    (first,) = server.get("/api/v1/runs")
    waiting = server.get("/api/v1/queue")[0]
    assert waiting["status"] == "queued"
    cancel = f"{server.url}/api/v1/queue/{waiting['id']}/cancel"
    assert httpx.post(cancel, headers=bearer(viewer)).status_code == 403
    assert httpx.post(cancel, headers=bearer(operator)).json()["status"] == "cancelled"
    stop = f"{server.url}/api/v1/runs/{first['id']}/cancel"
    assert httpx.post(stop, headers=bearer(operator)).status_code == 200
    eventually(lambda: server.get(f"/api/v1/runs/{first['id']}")["status"] == "completed", 60,
               "the cancelled run ended")  # fmt: skip
    assert server.get(f"/api/v1/runs/{first['id']}")["conclusion"] == "cancelled"
    taken = f"/api/v1/queue/{first['trigger_id']}"
    eventually(lambda: server.get(taken)["status"] == "done", 30, "its worker done with it")
    item = server.get(taken)
    assert item["message"] == "cancelled by an operator" and item["runs"] == [first["id"]]
    assert len(server.get("/api/v1/runs")) == 1  # the cancelled queued run never ran
    again = httpx.post(f"{server.url}/api/v1/runs/{first['id']}/rerun", headers=bearer(operator))
    assert again.status_code == 201
    rerun = server.get(f"/api/v1/queue/{again.json()['id']}")["trigger"]
    assert (rerun["ref"], rerun["event"], rerun["workflow"]) == (
        "refs/heads/main", "workflow_dispatch", ".github/workflows/ci.yml"
    )  # that workflow alone, on the same ref  # fmt: skip
    actions = [e["action"] for e in server.get("/api/v1/audit")]
    assert actions.count("cancel") == 2 and actions[0] == "queue workflow_dispatch"


ARTIFACT = """on: [push, workflow_dispatch]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: mkdir -p dist && echo "the build" > dist/app.txt
      - uses: actions/upload-artifact@v4
        with:
          name: app
          path: dist
"""


@pytest.mark.integration
def test_artifacts_outlive_the_workspace_and_download_as_zip(
    servers: list[Server], tmp_path: Path
) -> None:
    _source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": ARTIFACT})
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    register(server, bare)
    operator = make_token(server.home, "ops", "operator")
    dispatch(server, bare, operator)
    eventually(lambda: server.get("/api/v1/queue")[0]["status"] == "done", 120, "the run")
    (run,) = server.get("/api/v1/runs")
    assert run["conclusion"] == "success"
    (artifact,) = server.get(f"/api/v1/runs/{run['id']}/artifacts")
    assert artifact["name"] == "app" and "path" not in artifact  # no server path shown
    assert not (server.home / "workspaces" / "1").exists()  # the workspace is gone
    kept = server.home / "artifacts" / str(run["id"]) / "app"
    (kept / "link").symlink_to("/etc/passwd")  # planted where artifacts are kept
    answer = httpx.get(f"{server.url}/api/v1/artifacts/{artifact['id']}",
                       headers=bearer(server.token))  # fmt: skip
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert archive.read("app.txt") == b"the build\n"
        assert "link" not in archive.namelist()  # a symbolic link is never followed
    assert httpx.get(f"{server.url}/api/v1/artifacts/999",
                     headers=bearer(server.token)).status_code == 404  # fmt: skip


@pytest.mark.integration
def test_incidents_through_the_api(servers: list[Server], tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", 0)
    servers.append(server)
    operator, viewer = (make_token(server.home, n, r) for n, r in (("ops", "operator"),
                                                                    ("reader", "viewer")))  # fmt: skip
    wanted = {"environment": "production", "title": "checkout errors"}
    refused = httpx.post(server.url + "/api/v1/incidents", json=wanted, headers=bearer(viewer))
    assert refused.status_code == 403
    opened = httpx.post(server.url + "/api/v1/incidents", json=wanted, headers=bearer(operator))
    assert opened.status_code == 201
    number = opened.json()["id"]
    (listed,) = server.get("/api/v1/incidents", viewer)
    assert listed["title"] == "checkout errors" and listed["resolved_at"] is None
    resolve = f"{server.url}/api/v1/incidents/{number}/resolve"
    assert httpx.post(resolve, headers=bearer(operator)).status_code == 200
    assert httpx.post(resolve, headers=bearer(operator)).status_code == 404  # already
    assert server.get("/api/v1/incidents", viewer)[0]["resolved_at"] is not None
    assert [e["action"] for e in server.get("/api/v1/audit")] == [
        "resolve incident", "open incident"
    ]  # fmt: skip


GROUPED = """on: [push, workflow_dispatch]
concurrency: release
jobs:
  hold:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "$GITHUB_EVENT_NAME holds the group"
          while [ ! -e {gate} ]; do sleep 0.1; done
"""


@pytest.mark.integration
def test_a_concurrency_group_holds_across_the_cli_and_the_server(
    servers: list[Server], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    source, bare = bare_repository(
        tmp_path, {".github/workflows/ci.yml": GROUPED.format(gate=gate)}
    )
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    register(server, bare)
    store = f"sqlite:///{server.home / '.lockgate' / 'lockgate.db'}"
    cli = subprocess.Popen([str(LOCKGATE), "run", "push", "--db", store], cwd=source,
                           env={**os.environ, "LOCKGATE_DAEMON": "0"},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        eventually(lambda: any(r["event"] == "push" for r in server.get("/api/v1/runs")), 60,
                   "the CLI's run in the server's store")  # fmt: skip
        operator = make_token(server.home, "ops", "operator")
        dispatch(server, bare, operator)
        eventually(lambda: len(server.get("/api/v1/runs")) == 2, 60, "the server's run")
        served = next(r for r in server.get("/api/v1/runs") if r["trigger_id"])
        # The server's run waits outside the group (its entry is the group's pending one)
        # while the CLI's holds it.
        groups = ConcurrencyGroups(Store(store))
        waiting = lambda: getattr(groups.state("release"), "pending", None)  # noqa: E731
        eventually(lambda: bool(waiting()), 60, "the server's run waiting for the group")
        assert server.get(f"/api/v1/runs/{served['id']}/jobs") == []
        gate.write_text("")
        assert cli.wait(timeout=60) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
    runs = f"/api/v1/runs/{served['id']}"
    eventually(lambda: server.get(runs)["status"] == "completed", 60, "the server's run")
    mine = next(r for r in server.get("/api/v1/runs") if not r["trigger_id"])
    (job,) = server.get(f"{runs}/jobs")
    assert server.get(runs)["conclusion"] == "success"
    assert job["started_at"] >= mine["finished_at"]  # one after the other


ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")


@pytest.mark.integration
def test_alertmanager_opens_and_resolves_incidents(servers: list[Server], tmp_path: Path) -> None:
    """A real Alertmanager, told to fire and then resolve an alert, calls the server's webhook."""
    need(ALERTMANAGER.exists(), "prometheus-alertmanager is not installed")
    server = start_server(tmp_path / "home", 0)
    servers.append(server)
    operator = make_token(server.home, "alertmanager", "operator")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(json.dumps({  # JSON is YAML
        "route": {"receiver": "lockgate", "group_wait": "1s", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": "lockgate", "webhook_configs": [{
            "url": f"{server.url}/api/v1/incidents/alertmanager?environment=production",
            "send_resolved": True,
            "http_config": {"authorization": {"credentials": operator}},
        }]}],
    }))  # fmt: skip
    manager = subprocess.Popen(
        [str(ALERTMANAGER), f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        alerts = f"http://127.0.0.1:{port}/api/v2/alerts"

        def tell(**times: str) -> bool:
            alert = {"labels": {"alertname": "HighErrorRate", "service": "checkout"},
                     "annotations": {"summary": "5% of requests fail"}, **times}  # fmt: skip
            try:
                return httpx.post(alerts, json=[alert], timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(tell, 30, "Alertmanager taking the alert")
        eventually(lambda: server.get("/api/v1/incidents") != [], 60, "the incident opened")
        (incident,) = server.get("/api/v1/incidents")
        assert (incident["environment"], incident["title"]) == (
            "production", "HighErrorRate: 5% of requests fail"
        )  # fmt: skip
        ended = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        assert tell(endsAt=ended)
        eventually(lambda: server.get("/api/v1/incidents")[0]["resolved_at"] is not None, 60,
                   "the incident resolved")  # fmt: skip
        assert len(server.get("/api/v1/incidents")) == 1  # repeats open nothing new
    finally:
        manager.kill()
        manager.wait()
    hook = f"{server.url}/api/v1/incidents/alertmanager"
    bad = httpx.post(hook, json={"alerts": [{"labels": {"alertname": "X"}, "status": "firing"}]},
                     headers=bearer(operator))  # fmt: skip
    assert bad.status_code == 400 and "environment" in bad.json()["detail"]
    assert httpx.post(hook, json={"alerts": []}).status_code == 401


@pytest.mark.integration
def test_a_push_over_ssh_to_a_hooked_bare_repository_runs(
    servers: list[Server], tmp_path: Path
) -> None:
    """The bare repository is served by a real sshd; the push goes over SSH, as a team's
    plain git server would take it, and its post-receive hook queues the run."""
    need(Path(SSHD).exists() and shutil.which("ssh-keygen") is not None, "sshd is not installed")
    need(os.geteuid() == 0, "sshd needs root here")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    keys = tmp_path / "ssh"
    keys.mkdir()
    (keys / "authorized_keys").write_text(keygen(keys / "client") + "\n")
    host = Host.made(keys, 2)
    try:
        server = start_server(tmp_path / "home", 1)
        servers.append(server)
        source, bare = bare_repository(
            tmp_path, {".github/workflows/ci.yml": WORKFLOW, "delay": "0\n"}
        )
        done = lockgate("hook", "install", str(bare), "--server", server.url,
                        "--token-file", str(server.home / "hook-token"), cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        (keys / "known_hosts").write_text(host.key_line + "\n")
        ssh = (f"ssh -i {keys / 'client'} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes "
               f"-o UserKnownHostsFile={keys / 'known_hosts'}")  # fmt: skip
        git(source, "remote", "add", "origin", f"ssh://root@{host.address}:{host.port}{bare}")
        git(source, "commit", "-q", "--allow-empty", "-m", "over ssh")
        pushed = subprocess.run(["git", "-C", str(source), "push", "origin", "main"],
                                env={**os.environ, "GIT_SSH_COMMAND": ssh},
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        assert "queued" in pushed.stderr  # what the hook says back over the SSH channel
        eventually(lambda: server.get("/api/v1/queue")[0]["status"] == "done", 120, "the run")
        (run,) = server.get("/api/v1/runs")
        assert run["conclusion"] == "success" and run["sha"] == git(source, "rev-parse", "HEAD")
    finally:
        host.stop()


@pytest.mark.integration
def test_a_second_server_neither_takes_the_port_nor_the_running_runs(
    servers: list[Server], tmp_path: Path
) -> None:
    _source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": SLOW})
    home = tmp_path / "home"
    first = start_server(home, 1)
    servers.append(first)
    register(first, bare)
    operator = make_token(home, "ops", "operator")
    dispatch(first, bare, operator)
    eventually(lambda: first.get("/api/v1/queue")[0]["status"] == "running", 60, "taken")
    taken = first.get("/api/v1/queue")[0]
    refused = lockgate("serve", "--home", str(home), "--port", str(first.port), cwd=tmp_path)
    assert refused.returncode == 2 and "cannot listen" in refused.stderr
    second = start_server(home, 0)  # the same store, another port
    servers.append(second)
    again = second.get("/api/v1/queue")[0]
    assert (again["status"], again["worker"]) == ("running", taken["worker"])  # still the first's


def _slow(name: str) -> str:
    return f"""on: [push, workflow_dispatch]
jobs:
  {name}:
    runs-on: ubuntu-latest
    steps:
      - run: echo "{name} started" && sleep 120
"""


@pytest.mark.integration
def test_each_workflow_chooses_what_a_dead_server_leaves(
    servers: list[Server], tmp_path: Path
) -> None:
    choices = "server:\n  workflows:\n    report.yml: {interrupted: report}\n"
    _source, bare = bare_repository(tmp_path, {
        ".github/workflows/again.yml": _slow("again"),
        ".github/workflows/report.yml": _slow("report"),
        "lockgate.yml": choices,
    })  # fmt: skip
    home = tmp_path / "home"
    first = start_server(home, 1)
    servers.append(first)
    register(first, bare)
    dispatch(first, bare, make_token(home, "ops", "operator"))
    eventually(lambda: len(first.get("/api/v1/runs")) == 2, 60, "both workflows running")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    second = start_server(home, 0, port=first.port)  # the server's default: requeue
    servers.append(second)
    newest, cut = second.get("/api/v1/queue")[:2]
    assert cut["status"] == "interrupted" and "reported: .github/workflows/report.yml" in (
        cut["message"]
    )  # fmt: skip
    assert (newest["status"], newest["trigger"]["workflow"]) == (
        "queued", ".github/workflows/again.yml"
    )  # only the workflow that chose requeue runs again  # fmt: skip
    assert len(second.get("/api/v1/queue")) == 2

    # the cut-off runs end too (SIGTERM from their dying server), none left "running"
    def ended() -> bool:
        return all(r["status"] != "running" for r in second.get("/api/v1/runs"))

    with contextlib.suppress(AssertionError):
        eventually(ended, 60)
    runs = second.get("/api/v1/runs")
    with sqlite3.connect(home / ".lockgate" / "lockgate.db") as db:
        pids = db.execute("SELECT id, pid FROM runs").fetchall()
    alive = {run: os.path.exists(f"/proc/{pid}") for run, pid in pids if pid}
    assert ended(), f"cut-off runs still running: {runs} (processes alive: {alive})"
    for run in second.get("/api/v1/runs"):  # and no job of theirs shows running
        assert {job["status"] for job in second.get(f"/api/v1/runs/{run['id']}/jobs")} <= {
            "completed", "interrupted"
        }  # fmt: skip


HOSTILE_VALUES = ["..", "../../etc/passwd", "%2e%2e%2f", "a" * 5000, "-1", "9" * 20, "1e9",
                  "<script>", "' OR 1=1 --", "\N{GRINNING FACE}"]  # fmt: skip
HOSTILE_GETS = ["/api/v1/runs/{}", "/api/v1/runs/{}/logs", "/api/v1/artifacts/{}",
                "/api/v1/queue/{}", "/api/v1/environments/{}", "/api/v1/deployments/{}/analyses",
                "/api/v1/environments/{}/overrides",
                "/runs/{}", "/queue/{}", "/environments/{}", "/deployments/{}",
                "/runs?before={}", "/api/v1/runs?limit={}", "/insights?days={}",
                "/login?next={}"]  # fmt: skip
HOSTILE_POSTS = ["/api/v1/runs/{}/rerun", "/api/v1/queue/{}/cancel",
                 "/api/v1/environments/{}/deploy", "/api/v1/environments/{}/promote",
                 "/api/v1/environments/{}/overrides", "/api/v1/overrides/{}/approve",
                 "/api/v1/incidents/{}/resolve", "/api/v1/incidents/alertmanager",
                 "/webhooks/{}", "/login"]  # fmt: skip
HOSTILE_BODIES = [b"", b"{", b"null", b"\xff\xfe", json.dumps({"digest": "../../x"}).encode(),
                  json.dumps({"alerts": [{"labels": []}]}).encode()]  # fmt: skip


@pytest.mark.integration
def test_hostile_requests_get_answers_not_server_errors(
    servers: list[Server], tmp_path: Path
) -> None:
    (tmp_path / "deploy").mkdir()
    server = start_server(tmp_path / "home", 0, "--deployments", str(tmp_path / "deploy"))
    servers.append(server)
    headers = bearer(make_token(server.home, "ops", "operator"))
    failed = []
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        for path, value in itertools.product(HOSTILE_GETS, HOSTILE_VALUES):
            answer = client.get(path.format(value))
            if answer.status_code >= 500:
                failed.append(f"GET {path.format(value)[:80]}: {answer.status_code}")
        for path, value, body in itertools.product(HOSTILE_POSTS, HOSTILE_VALUES[:4],
                                                   HOSTILE_BODIES):  # fmt: skip
            answer = client.post(path.format(value), content=body,
                                 headers={"content-type": "application/json"})  # fmt: skip
            if answer.status_code >= 500:
                failed.append(f"POST {path.format(value)[:80]} {body[:20]!r}: {answer.status_code}")
    assert failed == []
    assert server.process.poll() is None and server.get("/api/v1/queue") == []


@pytest.mark.integration
def test_a_broken_workflow_is_reported_on_its_queued_run(
    servers: list[Server], tmp_path: Path
) -> None:
    broken = "on: [push, workflow_dispatch]\njobs:\n  build:\n    runs-on: linux\n    stepz: []\n"
    _source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": broken})
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    register(server, bare)
    dispatch(server, bare, make_token(server.home, "ops", "operator"))
    eventually(lambda: server.get("/api/v1/queue")[0]["status"] == "done", 120, "the run")
    (item,) = server.get("/api/v1/queue")
    assert item["exit_code"] == 2 and ".github/workflows/ci.yml" in item["message"]
