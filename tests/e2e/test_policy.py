"""Policies in Rego guard every change of an environment, whatever starts it: the CLI, the
server's API, and the agent's repairs. A deny changes nothing and says why; a broken policy
refuses everything until it is fixed."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lockgate.common.ports import free_port

from ..conftest import lockgate, make_repo
from .fleet import app_version, build, eventually, processes_of, teardown
from .serving import Server, bearer, make_token, servers, start_server

__all__ = ["servers"]  # the fixture

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


def _env(name: str, port: int, region: str, jurisdiction: str) -> str:
    return "\n".join([
        "app: ledger",
        f"environment: {name}",
        "target: {replicas: 2}",
        f"router: {{port: {port}}}",
        f"region: {{name: {region}, labels: {{jurisdiction: {jurisdiction}}}}}",
        f"audit-log: {{region: {region}}}",
        "",
    ])  # fmt: skip


def _app(repo: Path, name: str, **labels: str) -> str:
    folder = app_version(repo, name)
    manifest = folder / "lockgate-app.yaml"
    manifest.write_text(manifest.read_text() + f"labels: {json.dumps(labels)}\n")
    return build(repo, folder)


def _status(repo: Path, env: str) -> dict:  # type: ignore[type-arg]
    return dict(json.loads(lockgate("status", env, "-o", "json", cwd=repo).stdout))


def _deploy(repo: Path, env: str, digest: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    done = lockgate("deploy", env, "--artifact", digest, "-o", "json", cwd=repo)
    return done.returncode, json.loads(done.stdout)  # the output stays JSON, whatever rego says


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    eu, us = free_port(), free_port()
    repo = make_repo(
        tmp_path / "repo",
        {"eu.yaml": _env("eu", eu, "eu-west", "eu"), "us.yaml": _env("us", us, "us-east", "us")},
    )
    (repo / "policies").mkdir()
    shutil.copy(EXAMPLES / "residency.rego", repo / "policies")
    (repo / "policies" / "hygiene.rego").write_text(
        'package lockgate.hygiene\nwarn contains "no owner label" if not input.release.labels.owner\n'
    )
    digest = _app(repo, "v1", **{"data-classification": "eu-personal"})
    yield repo, digest
    teardown(repo, ("eu", "us"))


def test_eu_personal_data_is_refused_outside_the_eu_by_cli_and_api(
    ledger: tuple[Path, str], servers: list[Server], tmp_path: Path
) -> None:
    repo, digest = ledger
    code, report = _deploy(repo, "eu.yaml", digest)
    assert code == 0 and report["result"] == "succeeded", report
    warned = [e["text"] for e in _status(repo, "eu")["events"] if "policy warning" in e["text"]]
    assert warned and "no owner label (lockgate.hygiene)" in warned[0]  # recorded, not blocking
    code, report = _deploy(repo, "us.yaml", digest)
    assert code == 1 and report["result"] == "refused", report
    assert (
        "may not run in region us-east (jurisdiction us) (lockgate.residency)" in report["message"]
    )
    assert "may not write its audit log in region us-east" in report["message"]
    view = _status(repo, "us")
    assert view["latest"] is None  # nothing began
    assert any("denied by policy" in e["text"] for e in view["events"])  # and it is recorded

    server = start_server(tmp_path / "home", 1, "--deployments", str(repo))
    servers.append(server)
    answer = httpx.post(f"{server.url}/api/v1/environments/us/deploy", timeout=30,
                        headers=bearer(server.token), json={"digest": digest})  # fmt: skip
    assert answer.status_code == 409 and "may not run in region us-east" in answer.text
    assert any(e["action"] == "deploy refused" for e in server.get("/api/v1/audit"))


def test_a_broken_policy_refuses_every_change_until_fixed(ledger: tuple[Path, str]) -> None:
    repo, digest = ledger
    broken = repo / "policies" / "broken.rego"
    broken.write_text("package lockgate.broken\n\ndeny contains msg if { input.x = }\n")
    code, report = _deploy(repo, "eu.yaml", digest)
    assert code == 1 and report["result"] == "refused", report
    assert "policies/broken.rego:3:" in report["message"]
    assert "fail closed" in report["message"]
    broken.unlink()
    code, report = _deploy(repo, "eu.yaml", digest)
    assert code == 0 and report["result"] == "succeeded", report


def test_the_agent_repairs_only_what_the_policies_allow(ledger: tuple[Path, str]) -> None:
    repo, digest = ledger
    assert _deploy(repo, "eu.yaml", digest)[0] == 0
    (repo / "policies" / "recall.rego").write_text(
        "package lockgate.recall\nimport rego.v1\n"
        f'deny contains "v1 is recalled" if {{ input.release.digest == "{digest}" }}\n'
    )
    fleet = repo / ".lockgate" / "fleet" / "eu"
    processes = processes_of(fleet)
    victim = sorted(processes)[0]
    os.killpg(processes[victim], signal.SIGKILL)

    def refused() -> bool:
        events = _status(repo, "eu")["events"]
        return any(
            "not started again" in e["text"] and "v1 is recalled" in e["text"] for e in events
        )

    eventually(refused, 30, "the agent's restart refused by the policy")
    assert victim not in processes_of(fleet)
    (repo / "policies" / "recall.rego").unlink()


# -- break-glass -----------------------------------------------------------------------------------
def test_an_override_lets_a_refused_deploy_through_until_it_expires(
    ledger: tuple[Path, str],
) -> None:
    repo, digest = ledger
    assert _deploy(repo, "eu.yaml", digest)[0] == 0
    assert _deploy(repo, "us.yaml", digest)[0] == 1  # refused: `us` is known from now on
    bad = lockgate("override", "us", "--reason", " ", cwd=repo)
    assert bad.returncode == 2 and "needs a reason" in bad.stderr
    bad = lockgate("override", "us", "--reason", "x", "--bypass", "everything", cwd=repo)
    assert bad.returncode == 2 and "'everything' is not a gate" in bad.stderr
    bad = lockgate("override", "us", "--reason", "x", "--ttl", "3d", cwd=repo)
    assert bad.returncode == 2 and "--ttl" in bad.stderr

    done = lockgate("override", "us", "--reason", "INC-9: move the ledger now", "--ttl", "4s",
                    "-o", "json", cwd=repo)  # fmt: skip
    assert done.returncode == 0, done.stderr
    override = json.loads(done.stdout)["override"]
    assert override["bypass"] == ["policy"] and override["expires_at"] > override["requested_at"]
    shown = lockgate("status", "us", cwd=repo).stdout
    assert "BREAK-GLASS" in shown and "INC-9" in shown
    code, report = _deploy(repo, "us.yaml", digest)
    assert code == 0 and report["result"] == "succeeded", report
    events = [e["text"] for e in _status(repo, "us")["events"]]
    assert any("let through" in t and "may not run in region us-east" in t for t in events)

    def refused_again() -> bool:
        return _deploy(repo, "us.yaml", digest)[0] == 1

    eventually(refused_again, 30, "the override expired on its own")
    assert "BREAK-GLASS" not in lockgate("status", "us", cwd=repo).stdout


def test_a_second_person_approves_and_a_drill_changes_nothing(
    ledger: tuple[Path, str], servers: list[Server], tmp_path: Path
) -> None:
    repo, digest = ledger
    env = repo / "us.yaml"
    env.write_text(env.read_text() + "break-glass: {approval: true, max-ttl: 1h}\n")
    assert _deploy(repo, "us.yaml", digest)[0] == 1
    server = start_server(tmp_path / "home", 1, "--deployments", str(repo))
    servers.append(server)
    second = bearer(make_token(server.home, "bob", "admin"))
    operator = bearer(make_token(server.home, "olga", "operator"))
    ask = {"reason": "INC-10", "ttl": "10m"}
    url = f"{server.url}/api/v1"
    assert (
        httpx.post(f"{url}/environments/us/overrides", json=ask, headers=operator).status_code
        == 403
    )
    asked = httpx.post(f"{url}/environments/us/overrides", json=ask, headers=bearer(server.token))
    assert asked.status_code == 201, asked.text
    number = asked.json()["override"]["id"]
    assert asked.json()["override"]["effective_at"] is None  # pending: a second person must say
    assert _deploy(repo, "us.yaml", digest)[0] == 1
    same = httpx.post(f"{url}/overrides/{number}/approve", headers=bearer(server.token))
    assert same.status_code == 409 and "needs a second person" in same.text
    approved = httpx.post(f"{url}/overrides/{number}/approve", headers=second)
    assert approved.status_code == 200, approved.text
    assert approved.json()["stages"][0]["name"] == "approval"
    answer = httpx.post(f"{url}/environments/us/deploy", json={"digest": digest}, timeout=60,
                        headers=bearer(server.token))  # fmt: skip
    assert answer.status_code == 200, answer.text
    actions = [e["action"] for e in server.get("/api/v1/audit")]
    assert {"override", "override approve", "deploy"} <= set(actions)
    assert httpx.post(f"{url}/overrides/{number}/revoke", headers=second).status_code == 200

    # a drill: the same path, timed, and nothing bypassed
    drill = httpx.post(f"{url}/environments/us/overrides", headers=bearer(server.token),
                       json={**ask, "drill": True})  # fmt: skip
    assert drill.status_code == 201, drill.text
    finished = httpx.post(
        f"{url}/overrides/{drill.json()['override']['id']}/approve", headers=second
    )
    stages = [s["name"] for s in finished.json()["stages"]]
    assert stages == ["approval", "seen by the gates", "a gate's decision", "ended"]
    assert finished.json()["override"]["revoked_at"] is not None
    assert _deploy(repo, "us.yaml", digest)[0] == 1  # the drill let nothing through
