"""Protected environments on a real server: a job naming one waits, holding no worker, for a
reviewer the rule names (never whoever triggered the run); approved, a new run takes the jobs
that ended and runs the held one with the environment's own secrets and vars; a branch the
rule does not allow fails; a rejection fails the run; a wait timer alone goes on by itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from ..conftest import git, lockgate
from .fleet import eventually
from .serving import (
    Server,
    bare_repository,
    bearer,
    dispatch,
    make_token,
    register,
    servers,
    start_server,
)

__all__ = ["servers"]  # the fixture
pytestmark = pytest.mark.integration

WORKFLOW = """on: [workflow_dispatch, push]
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      artifact: ${{ steps.b.outputs.artifact }}
    steps:
      - id: b
        run: |
          echo "artifact=app-${{ github.run_id }}" >> "$GITHUB_OUTPUT"
          echo "build sees key=[${{ secrets.DEPLOY_KEY }}] region=[${{ vars.REGION }}]"
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: |
          echo "deploying ${{ needs.build.outputs.artifact }} to ${{ vars.REGION }}"
          test "${{ secrets.DEPLOY_KEY }}" = "s3cret-deploy-key"
  announce:
    needs: deploy
    runs-on: ubuntu-latest
    steps:
      - run: echo "announced"
  stage:
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - run: echo "staged"
"""


def _newest_with(server: Server, job: str) -> dict:  # type: ignore[type-arg]
    """The newest run that has `job` (not a run that went on with another environment's)."""
    for listed in server.get("/api/v1/runs"):
        run = server.get(f"/api/v1/runs/{listed['id']}")
        if job in _jobs(run):
            return run
    raise AssertionError(f"no run has {job}")


def _jobs(run: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {job["job_id"]: job for job in run["jobs"]}


def _log(server: Server, run_id: int) -> str:
    return httpx.get(
        f"{server.url}/api/v1/runs/{run_id}/logs.txt", headers=bearer(server.token)
    ).text


def _settled(server: Server) -> bool:
    return all(item["status"] == "done" for item in server.get("/api/v1/queue"))


@pytest.fixture
def protected(servers: list[Server], tmp_path: Path) -> tuple[Server, Path, Path]:
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": WORKFLOW})
    register(server, bare)
    secrets = tmp_path / "production.env"
    secrets.write_text("DEPLOY_KEY=s3cret-deploy-key\n")
    home = str(server.home)
    said = lockgate("protect", "production", "--reviewer", "alice", "--reviewer", "carol",
                    "--branch", "main", "--secret-file", str(secrets), "--var", "REGION=eu",
                    "--home", home, cwd=tmp_path)  # fmt: skip
    assert said.returncode == 0, said.stderr
    assert "reviewed by alice or carol" in said.stdout and "deploys from main only" in said.stdout
    return server, source, bare


def test_a_reviewer_approves_and_a_new_run_goes_on_with_the_held_job(
    protected: tuple[Server, Path, Path], tmp_path: Path
) -> None:
    server, _, bare = protected
    carol = make_token(server.home, "carol", "operator")
    alice = make_token(server.home, "alice", "operator")
    bob = make_token(server.home, "bob", "operator")
    assert dispatch(server, bare, carol).status_code == 201  # carol triggers the run
    eventually(lambda: _settled(server), 120, "the first run")
    held = next(r for r in server.get("/api/v1/runs") if r["status"] == "waiting"
                and _jobs(server.get(f"/api/v1/runs/{r['id']}"))["deploy"]["status"] == "waiting")  # fmt: skip
    run = server.get(f"/api/v1/runs/{held['id']}")
    jobs = _jobs(run)
    assert jobs["build"]["conclusion"] == "success"
    assert jobs["deploy"]["status"] == "waiting"
    assert "needs the approval of alice or carol" in jobs["deploy"]["message"]
    assert jobs["announce"]["status"] == "waiting"  # what needs it waits too
    reviews = server.get(f"/api/v1/runs/{held['id']}/reviews")
    production = next(r for r in reviews if r["environment"] == "production")
    assert production["state"] == "waiting" and production["jobs"] == ["deploy"]
    assert "build sees key=[] region=[]" in _log(
        server, held["id"]
    )  # the environment's secrets are its jobs' alone
    decide = f"{server.url}/api/v1/runs/{held['id']}/reviews/{production['id']}"
    refused = httpx.post(decide, headers=bearer(bob), json={"approve": True})
    assert refused.status_code == 403 and "bob is not a reviewer of production" in refused.text
    own = httpx.post(decide, headers=bearer(carol), json={"approve": True})
    assert own.status_code == 403 and "carol triggered run" in own.text
    token_file = tmp_path / "alice-token"
    token_file.write_text(alice)
    approved = lockgate("approve", str(held["id"]), "--environment", "production",
                        "--server", server.url, "--token-file", str(token_file), cwd=tmp_path)  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    assert "production approved by alice; goes on in queued run" in approved.stdout
    again = httpx.post(decide, headers=bearer(alice), json={"approve": True})
    assert again.status_code == 409 and "approved already, by alice" in again.text
    eventually(lambda: _settled(server), 120, "the run that goes on")
    runs = server.get("/api/v1/runs")
    went_on = next(r for r in runs if r["id"] != held["id"] and r["workflow"] == held["workflow"]
                   and _jobs(server.get(f"/api/v1/runs/{r['id']}")).get("deploy", {})
                   .get("conclusion") == "success")  # fmt: skip
    done = _jobs(server.get(f"/api/v1/runs/{went_on['id']}"))
    assert done["build"]["cached_from"] == held["id"]  # taken as it ended, not run again
    assert done["announce"]["conclusion"] == "success"
    logs = _log(server, went_on["id"])
    assert f"deploying app-{held['id']} to eu" in logs and "s3cret-deploy-key" not in logs
    original = _jobs(server.get(f"/api/v1/runs/{held['id']}"))
    assert original["deploy"]["message"].startswith("approved by alice: goes on in queued run")
    audit = server.get("/api/v1/audit")
    assert any(e["actor"] == "alice" and e["action"] == "approved production" for e in audit)


def test_a_branch_the_rule_does_not_allow_fails_and_a_rejection_fails_the_run(
    protected: tuple[Server, Path, Path], tmp_path: Path
) -> None:
    server, source, bare = protected
    alice = make_token(server.home, "alice", "operator")
    carol = make_token(server.home, "carol", "operator")
    lockgate("hook", "install", str(bare), "--server", server.url,
             "--token-file", str(server.home / "hook-token"), cwd=tmp_path)  # fmt: skip
    git(source, "remote", "add", "origin", str(bare))
    git(source, "checkout", "-q", "-b", "feature")
    git(source, "commit", "-q", "--allow-empty", "-m", "on a feature branch")
    subprocess.run(["git", "-C", str(source), "push", "-q", "origin", "feature"], check=True,
                   capture_output=True)  # fmt: skip
    eventually(lambda: _settled(server) and server.get("/api/v1/runs"), 120, "the feature run")
    feature = _jobs(_newest_with(server, "deploy"))
    assert feature["deploy"]["conclusion"] == "failure"
    assert feature["deploy"]["message"] == "feature may not deploy to production: only main may"
    assert dispatch(server, bare, carol).status_code == 201
    eventually(lambda: _settled(server) and len(server.get("/api/v1/runs")) >= 2, 120, "held")
    held = _newest_with(server, "deploy")
    assert held["status"] == "waiting"
    review = next(r for r in server.get(f"/api/v1/runs/{held['id']}/reviews")
                  if r["environment"] == "production")  # fmt: skip
    rejected = httpx.post(f"{server.url}/api/v1/runs/{held['id']}/reviews/{review['id']}",
                          headers=bearer(alice), json={"approve": False, "comment": "not today"})  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    after = server.get(f"/api/v1/runs/{held['id']}")
    assert after["status"] == "completed" and after["conclusion"] == "failure"
    assert _jobs(after)["deploy"]["message"] == "rejected by alice: not today"


def test_a_wait_timer_alone_goes_on_by_itself_after_the_wait(
    protected: tuple[Server, Path, Path], tmp_path: Path
) -> None:
    server, _, bare = protected
    staged = lockgate("protect", "staging", "--wait", "2s", "--home", str(server.home),
                      cwd=tmp_path)  # fmt: skip
    assert staged.returncode == 0, staged.stderr
    carol = make_token(server.home, "carol", "operator")
    assert dispatch(server, bare, carol).status_code == 201
    eventually(lambda: len(server.get("/api/v1/queue")) == 2, 120, "the staging run queued")
    queued = server.get("/api/v1/queue")[0]
    assert queued["trigger"]["jobs"] == ["stage"] and queued["trigger"]["not_before"]
    eventually(lambda: _settled(server), 120, "the staging run after its wait")
    stage = [
        _jobs(server.get(f"/api/v1/runs/{r['id']}")).get("stage", {})
        for r in server.get("/api/v1/runs")
    ]
    ran = [job for job in stage if job.get("conclusion") == "success"]
    assert len(ran) == 1 and ran[0]["started_at"] >= queued["trigger"]["not_before"]


def test_a_protected_job_in_a_called_workflow_holds_what_needs_its_caller(tmp_path: Path) -> None:
    """The engine alone (as a worker's run process runs it): the called workflow's job is
    held, and the job needing the calling job waits with it."""
    from lockgate.server.runjob import ProtectionSpec, RunRequest, execute
    from lockgate.store import Store

    from ..conftest import make_repo

    called = """on: workflow_call
jobs:
  ship:
    runs-on: ubuntu-latest
    environment: production
    steps:
      - run: echo shipped
"""
    caller = """on: push
jobs:
  release:
    uses: ./.github/workflows/ship.yml
  announce:
    needs: release
    runs-on: ubuntu-latest
    steps:
      - run: echo announced
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": caller,
                                        ".github/workflows/ship.yml": called})  # fmt: skip
    store = f"sqlite:///{tmp_path / 'store.db'}"
    outcome = execute(RunRequest(
        checkout=repo, event="push", payload={}, store_url=store, trigger_id=1, actor="carol",
        workflow=".github/workflows/ci.yml",
        protections=[ProtectionSpec(environment="production", reviewers=["alice"])],
    ))  # fmt: skip
    assert [(h.job_id, h.environment, h.reviewers) for h in outcome.held] == [
        ("release", "production", ["alice"])  # the job calling it: what a new run runs again
    ]
    run = Store(store).get_run(outcome.runs[0])
    assert run is not None and run.status == "waiting"
    statuses = {job.key: (job.status, job.message) for job in run.jobs}
    assert statuses["announce"] == ("waiting", "waiting for 'release'")
