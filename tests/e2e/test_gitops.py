"""GitOps against real git servers: a bare config repository served by `git daemon` and by
`git http-backend` behind nginx, pushes made with git, and the real reconciler and agent with
real instances under steady load."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from lockgate.common.ports import free_port
from lockgate.store import Store
from lockgate.store.database import default_url
from lockgate.store.deployments import DeploymentRecords, Rollout, RolloutStatus

from ..conftest import git, lockgate, make_repo, need, wait_listening
from .fleet import Load, app_version, build, eventually, processes_of, stop_agent, teardown
from .nginx import running_nginx
from .serving import (
    FakeForge,
    Server,
    bearer,
    servers,
    signed_headers,
    start_server,
)

__all__ = ["servers"]  # the fixture
AUTHOR = ("-c", "user.name=Alice Ops", "-c", "user.email=alice@example.com")
GIT_CORE = Path("/usr/lib/git-core")


@dataclass
class ConfigRepo:
    """A bare config repository on a git server, and a clone to push changes from."""

    bare: Path
    url: str
    clone: Path

    def push(self, files: dict[str, str | None], message: str = "change") -> str:
        """Write (None: delete) files under the clone, commit as Alice, push; the commit."""
        for name, text in files.items():
            path = self.clone / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.clone, "add", "-A")
        subprocess.run(
            ["git", "-C", str(self.clone), *AUTHOR, "commit", "-qm", message], check=True
        )
        git(self.clone, "push", "-q", "origin", "HEAD:main")
        return git(self.clone, "rev-parse", "HEAD")

    def revert(self) -> str:
        subprocess.run(
            ["git", "-C", str(self.clone), *AUTHOR, "revert", "--no-edit", "HEAD"],
            check=True,
            capture_output=True,
        )
        git(self.clone, "push", "-q", "origin", "HEAD:main")
        return git(self.clone, "rev-parse", "HEAD")


def _bare(root: Path) -> Path:
    bare = root / "config.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    return bare


def _clone(url_for_push: str, where: Path) -> Path:
    subprocess.run(
        ["git", "clone", "-q", url_for_push, str(where)], check=True, capture_output=True
    )
    git(where, "checkout", "-q", "-b", "main")
    return where


@pytest.fixture
def daemon_config(tmp_path: Path) -> Iterator[tuple[ConfigRepo, subprocess.Popen[bytes]]]:
    """The config repository served by `git daemon` (pushes enabled); and the daemon."""
    need(shutil.which("git") is not None, "git is not installed")
    served = tmp_path / "served"
    served.mkdir()
    bare = _bare(served)
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", f"--base-path={served}", "--export-all",
         "--enable=receive-pack", "--listen=127.0.0.1", f"--port={port}", str(served)],
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_listening(port, proc, "git daemon")
    url = f"git://127.0.0.1:{port}/config.git"
    yield ConfigRepo(bare, url, _clone(url, tmp_path / "clone")), proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.fixture
def http_config(tmp_path: Path) -> Iterator[ConfigRepo]:
    """The config repository served by git-http-backend (through fcgiwrap) behind nginx."""
    fcgiwrap = shutil.which("fcgiwrap") or "/usr/sbin/fcgiwrap"
    need(Path(fcgiwrap).exists(), "fcgiwrap is not installed (apt-get install fcgiwrap)")
    served = tmp_path / "served"
    served.mkdir()
    bare = _bare(served)
    socket_path = tmp_path / "fcgi.sock"
    wrap = subprocess.Popen(
        [fcgiwrap, "-s", f"unix:{socket_path}"], start_new_session=True, stderr=subprocess.DEVNULL
    )
    eventually(socket_path.exists, 10, "fcgiwrap listens")
    location = f"""    location / {{
      client_max_body_size 0;
      fastcgi_pass unix:{socket_path};
      include {Path("/etc/nginx/fastcgi_params")};
      fastcgi_param SCRIPT_FILENAME {GIT_CORE / "git-http-backend"};
      fastcgi_param GIT_PROJECT_ROOT {served};
      fastcgi_param GIT_HTTP_EXPORT_ALL 1;
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER tester;
    }}"""
    root = tmp_path / "nginx"
    root.mkdir()
    try:
        with running_nginx(root, location) as port:
            url = f"http://127.0.0.1:{port}/config.git"
            # pushes go to the bare repository itself: http pushes need authentication
            yield ConfigRepo(bare, url, _clone(str(bare), tmp_path / "clone"))
    finally:
        os.killpg(wrap.pid, signal.SIGTERM)
        wrap.wait(timeout=10)


def _deploy_checkout(tmp_path: Path, url: str, interval: str = "30s") -> Path:
    settings = (
        f"gitops:\n  repository: {url}\n  branch: main\n  path: envs\n  interval: {interval}\n"
    )
    return make_repo(tmp_path / "deploy", {"lockgate.yml": settings, "README": "deploys\n"})


def _env(digest: str, port: int, replicas: int = 2, strategy: str = "rolling") -> str:
    return (
        f"digest: sha256:{digest}\n"
        f"router: {{port: {port}}}\n"
        f"target: {{replicas: {replicas}}}\n"
        f"strategy: {{type: {strategy}, readiness-timeout: 20}}\n"
    )


BASE = "app: hello\ntarget: {type: local}\n"


def _status(repo: Path, env: str | None = None) -> dict:  # type: ignore[type-arg]
    done = lockgate("gitops", "status", *([env] if env else []), "-o", "json", cwd=repo)
    assert done.returncode in (0, 3), done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def fleet_ids(repo: Path, env: str) -> set[str]:
    """The ids of the environment's live instance processes."""
    return set(processes_of(repo / ".lockgate" / "fleet" / env))


def _latest(repo: Path, env: str) -> Rollout | None:
    return DeploymentRecords(Store(default_url(repo))).latest(env)


def _fresh(path: Path) -> bool:
    """`path` holds no hand edit (it is absent for a moment while its release is copied again)."""
    try:
        return "hotfix" not in path.read_text()
    except FileNotFoundError:
        return False


def _converged(repo: Path, env: str, digest: str, commit: str) -> bool:
    latest = _latest(repo, env)
    if latest is None or latest.digest != digest or latest.status != RolloutStatus.SUCCEEDED:
        return False
    state = _status(repo, env)
    return state["sync"] == "Synced" and state["applied_commit"] == commit


@dataclass
class Started:
    """A deploying checkout following the config repository, two versions of the app built
    in it, and the config's first commit: environment `web` on v1."""

    repo: Path
    v1: str
    v2: str
    port: int  # web's router
    first: str


def _started(
    tmp_path: Path, config: ConfigRepo, deploy_dirs: list, interval: str = "30s", replicas: int = 1
) -> Started:
    repo = _deploy_checkout(tmp_path, config.url, interval)
    deploy_dirs.append((repo, ("web",)))
    v1, v2 = build(repo, app_version(repo, "v1")), build(repo, app_version(repo, "v2"))
    port = free_port()
    web = _env(v1, port, replicas)
    first = config.push({"envs/base.yaml": BASE, "envs/environments/web.yaml": web})
    return Started(repo, v1, v2, port, first)


@pytest.fixture
def deploy_dirs() -> Iterator[list[tuple[Path, tuple[str, ...]]]]:
    made: list[tuple[Path, tuple[str, ...]]] = []
    yield made
    for repo, environments in made:
        teardown(repo, environments)


def test_a_pushed_commit_rolls_out_under_load_with_its_commit_recorded_and_reverts(
    tmp_path: Path, daemon_config: tuple[ConfigRepo, subprocess.Popen[bytes]], deploy_dirs: list
) -> None:
    config, _ = daemon_config
    it = _started(tmp_path, config, deploy_dirs, replicas=2)
    repo, v1, v2, port, first = it.repo, it.v1, it.v2, it.port, it.first
    done = lockgate("gitops", "sync", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "web: deploying" in done.stdout
    eventually(lambda: _converged(repo, "web", v1, first), 60, "v1 converged")

    with Load(port) as load:
        second = config.push({"envs/environments/web.yaml": _env(v2, port)}, "web: v2")
        lockgate("gitops", "notify", cwd=repo)  # what the post-receive hook runs
        eventually(lambda: _converged(repo, "web", v2, second), 60, "v2 converged")
    assert load.errors == [], load.errors
    assert any("version v2" in body for _, _, body in load.results[-20:])
    latest = _latest(repo, "web")
    assert latest is not None
    assert (latest.config_commit, latest.config_author) == (second, "Alice Ops <alice@example.com>")
    assert latest.triggered_by.startswith("gitops")

    reverted = config.revert()  # rolling back is `git revert`
    lockgate("gitops", "notify", cwd=repo)
    eventually(lambda: _converged(repo, "web", v1, reverted), 60, "the revert converged")
    assert _status(repo)["source"]["author"] == "Alice Ops <alice@example.com>"


def test_polling_over_http_backend_behind_nginx_converges_without_a_hook(
    tmp_path: Path, http_config: ConfigRepo, deploy_dirs: list
) -> None:
    it = _started(tmp_path, http_config, deploy_dirs, interval="1s")
    repo, v1, v2, port, first = it.repo, it.v1, it.v2, it.port, it.first
    assert lockgate("gitops", "sync", cwd=repo).returncode == 0
    eventually(lambda: _converged(repo, "web", v1, first), 60, "v1 converged")
    second = http_config.push({"envs/environments/web.yaml": _env(v2, port, 1)})
    eventually(lambda: _converged(repo, "web", v2, second), 60, "polling found and applied v2")


def test_drift_is_reported_then_healed_and_removed_environments_pruned(
    tmp_path: Path, daemon_config: tuple[ConfigRepo, subprocess.Popen[bytes]], deploy_dirs: list
) -> None:
    config, _ = daemon_config
    repo = _deploy_checkout(tmp_path, config.url, interval="1s")
    deploy_dirs.append((repo, ("web", "api")))
    v1, v2 = build(repo, app_version(repo, "v1")), build(repo, app_version(repo, "v2"))
    web, api = free_port(), free_port()
    first = config.push(
        {
            "envs/base.yaml": BASE,
            "envs/environments/web.yaml": _env(v1, web, 1),
            "envs/environments/api.yaml": _env(v1, api, 1),
        }
    )
    assert lockgate("gitops", "sync", cwd=repo).returncode == 0
    eventually(lambda: _converged(repo, "web", v1, first), 60, "web converged")

    # by hand: another digest, and an edited environment file
    done = lockgate("deploy", "web", "--artifact", v2, cwd=repo)
    assert done.returncode == 0, done.stderr
    kept = repo / ".lockgate" / "fleet" / "api" / "environment.yaml"
    kept.write_text(kept.read_text().replace('"rolling"', '"blue-green"'))

    def drift_reported() -> bool:
        found = {e["environment"]: e for e in _status(repo)["environments"]}
        fields = {n: {d["field"] for d in e["differences"]} for n, e in found.items()}
        return (
            found["web"]["sync"] == "OutOfSync"
            and "digest" in fields["web"]
            and "strategy.type" in fields["api"]
        )

    eventually(drift_reported, 30, "the drift reported")
    assert _latest(repo, "web").digest == v2  # type: ignore[union-attr]  # reported, not reverted

    healed = config.push({"envs/lockgate-gitops.yaml": "sync:\n  self-heal: true\n"}, "heal")
    eventually(lambda: _converged(repo, "web", v1, healed), 60, "web healed")
    eventually(lambda: '"rolling"' in kept.read_text(), 30, "api's file restored")
    assert _latest(repo, "web").triggered_by == "gitops (self-heal)"  # type: ignore[union-attr]

    # a release changed on disk (an edited file): reported, and its instance replaced
    release = repo / ".lockgate" / "fleet" / "web" / "instances" / "0" / "releases" / v1
    before = fleet_ids(repo, "web")
    (release / "app.py").write_text((release / "app.py").read_text() + "# hotfix by hand\n")
    eventually(
        lambda: (
            any(
                d["field"] == "instance 0 release" and "changed: app.py" in d["live"]
                for d in _status(repo, "web")["differences"]
            )
            or fleet_ids(repo, "web") != before
        ),
        30,
        "the changed release reported or replaced",
    )
    eventually(lambda: fleet_ids(repo, "web") != before, 30, "the instance replaced")
    eventually(lambda: _fresh(release / "app.py"), 30, "a fresh copy")
    eventually(lambda: _status(repo, "web")["sync"] == "Synced", 30, "in sync again")

    # removed from git: kept while prune is off, stopped once it is on
    gone = config.push({"envs/environments/api.yaml": None}, "drop api")
    eventually(lambda: not _status(repo, "api")["in_git"], 30, "api reported removed")
    assert _latest(repo, "api").status == RolloutStatus.SUCCEEDED  # type: ignore[union-attr]
    config.push({"envs/lockgate-gitops.yaml": "sync:\n  self-heal: true\n  prune: true\n"})
    eventually(
        lambda: _latest(repo, "api").status == RolloutStatus.STOPPED,  # type: ignore[union-attr]
        30,
        "api pruned",
    )
    eventually(lambda: not kept.exists(), 30, "api's file removed: nothing supervises it")
    assert gone != healed


def test_failures_change_nothing_and_say_why(
    tmp_path: Path, daemon_config: tuple[ConfigRepo, subprocess.Popen[bytes]], deploy_dirs: list
) -> None:
    config, daemon = daemon_config
    it = _started(tmp_path, config, deploy_dirs, interval="1s")
    repo, v1, port, first = it.repo, it.v1, it.port, it.first
    broken = build(repo, app_version(repo, "broken", refuse_start=True))
    assert lockgate("gitops", "sync", cwd=repo).returncode == 0
    eventually(lambda: _converged(repo, "web", v1, first), 60, "v1 converged")

    # an invalid commit: refused with file:line:col, nothing applied
    config.push({"envs/environments/web.yaml": _env(v1, port, 1) + "strategy: {tpye: canary}\n"})
    eventually(lambda: bool(_status(repo)["source"]["invalid"]), 30, "the invalid commit seen")
    said = _status(repo)["source"]["invalid"]
    assert "envs/environments/web.yaml:5:" in said and "tpye" in said, said
    assert _status(repo, "web")["applied_commit"] == first

    # a commit whose rollout fails: rolled back, Degraded with why, not retried in a loop
    bad = config.push({"envs/environments/web.yaml": _env(broken, port, 1)}, "broken")
    eventually(lambda: _status(repo, "web")["health"] == "degraded", 60, "degraded")
    attempts = [
        r for r in DeploymentRecords(Store(default_url(repo))).history("web") if r.digest == broken
    ]
    assert len(attempts) == 1 and attempts[0].status == RolloutStatus.ROLLED_BACK
    state = _status(repo, "web")
    assert state["failed_commit"] == bad and "failed" in state["message"]
    checked = state["checked_at"]
    eventually(lambda: _status(repo, "web")["checked_at"] > checked + 2, 30, "passes went on")
    again = DeploymentRecords(Store(default_url(repo))).history("web")
    assert len([r for r in again if r.digest == broken]) == 1  # backed off, not retried

    # the repository unreachable: Unknown with the reason and the last commit applied
    os.killpg(daemon.pid, signal.SIGTERM)
    daemon.wait(timeout=10)
    eventually(lambda: _status(repo, "web")["sync"] == "Unknown", 30, "Unknown")
    state = _status(repo, "web")
    assert "cannot fetch" in state["message"] and "last applied" in state["message"]
    assert _latest(repo, "web").intended == v1  # type: ignore[union-attr]  # still runs v1


def test_plan_shows_what_a_ref_would_change_and_exits_2(
    tmp_path: Path, daemon_config: tuple[ConfigRepo, subprocess.Popen[bytes]], deploy_dirs: list
) -> None:
    config, _ = daemon_config
    it = _started(tmp_path, config, deploy_dirs)
    repo, v1, v2, port, first = it.repo, it.v1, it.v2, it.port, it.first

    done = lockgate("plan", cwd=repo)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "+ web" in done.stdout and "1 to add" in done.stdout

    assert lockgate("gitops", "sync", cwd=repo).returncode == 0
    eventually(lambda: _converged(repo, "web", v1, first), 60, "v1 converged")
    done = lockgate("plan", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no changes" in done.stdout

    git(config.clone, "checkout", "-q", "-b", "bump")
    text = _env(v2, port, 3, "canary")
    config.push({"envs/environments/web.yaml": text}, "bump")
    git(config.clone, "push", "-q", "origin", "bump")
    done = lockgate("plan", "--ref", "bump", cwd=repo)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"~ digest: {v1[:12]}" in done.stdout and v2[:12] in done.stdout
    assert "strategy.type: rolling -> canary" in done.stdout
    assert "target.replicas: 1 -> 3" in done.stdout
    assert _latest(repo, "web").digest == v1  # type: ignore[union-attr]  # changed nothing

    done = lockgate("plan", "--ref", "no-such-branch", cwd=repo)
    assert done.returncode == 1, done.stdout + done.stderr


def test_policies_refuse_a_commit_in_its_plan_and_its_sync(
    tmp_path: Path, daemon_config: tuple[ConfigRepo, subprocess.Popen[bytes]], deploy_dirs: list
) -> None:
    config, _ = daemon_config
    it = _started(tmp_path, config, deploy_dirs)
    repo, v1, v2, port, first = it.repo, it.v1, it.v2, it.port, it.first
    assert lockgate("gitops", "sync", cwd=repo).returncode == 0
    eventually(lambda: _converged(repo, "web", v1, first), 60, "v1 converged")
    (repo / "policies").mkdir()
    (repo / "policies" / "recall.rego").write_text(
        f'package lockgate.recall\ndeny contains "v2 is recalled" if input.release.digest == "{v2}"\n'
    )
    second = config.push({"envs/environments/web.yaml": _env(v2, port, 1)}, "v2")
    done = lockgate("plan", cwd=repo)
    assert done.returncode == 1, done.stdout + done.stderr  # the plan fails: applying would stop
    assert "! plan of" in done.stdout and "v2 is recalled (lockgate.recall)" in done.stdout
    assert "1 refused by policy" in done.stdout

    done = lockgate("gitops", "sync", cwd=repo)
    assert done.returncode == 3 and "v2 is recalled" in done.stdout, done.stdout  # out of sync
    state = _status(repo, "web")
    assert state["failed_commit"] == second and "v2 is recalled" in state["message"], state
    assert _latest(repo, "web").digest == v1  # type: ignore[union-attr]  # nothing began
    kept = repo / ".lockgate" / "fleet" / "web" / "environment.yaml"
    assert v2 not in kept.read_text()  # the refused file was not even written


def test_a_deny_window_blocks_syncs_unless_overridden_and_audited(
    tmp_path: Path, daemon_config: tuple[ConfigRepo, subprocess.Popen[bytes]], deploy_dirs: list
) -> None:
    config, _ = daemon_config
    repo = _deploy_checkout(tmp_path, config.url)
    deploy_dirs.append((repo, ("web",)))
    v1 = build(repo, app_version(repo, "v1"))
    always = 'sync:\n  windows:\n    - {schedule: "* * * * *", duration: 2h}\n'
    port = free_port()
    config.push(
        {
            "envs/base.yaml": BASE,
            "envs/lockgate-gitops.yaml": always,
            "envs/environments/web.yaml": _env(v1, port, 1),
        }
    )
    done = lockgate("gitops", "sync", cwd=repo)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "blocks syncs" in done.stdout and "--override" in done.stdout
    assert _latest(repo, "web") is None

    done = lockgate("gitops", "sync", "--override", "hotfix INC-7", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    events = DeploymentRecords(Store(default_url(repo))).events("web")
    assert any("overridden" in e.text and "hotfix INC-7" in e.text for e in events)

    # break-glass on the window: every sync passes while it lasts, each one recorded
    v2 = build(repo, app_version(repo, "v2"))
    config.push({"envs/environments/web.yaml": _env(v2, port, 1)}, "v2")
    assert lockgate("gitops", "sync", cwd=repo).returncode == 3  # the window holds
    broken = lockgate("override", "web", "--bypass", "window", "--reason", "INC-8", cwd=repo)
    assert broken.returncode == 0, broken.stdout + broken.stderr
    done = lockgate("gitops", "sync", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _latest(repo, "web").digest == v2  # type: ignore[union-attr]
    events = DeploymentRecords(Store(default_url(repo))).events("web")
    assert any(
        "let through by override #1 (window)" in e.text and "INC-8" in e.text for e in events
    )


def test_the_server_follows_the_repository_wakes_on_a_signed_webhook_and_shows_drift(
    tmp_path: Path,
    daemon_config: tuple[ConfigRepo, subprocess.Popen[bytes]],
    deploy_dirs: list,
    servers: list[Server],
) -> None:
    config, _ = daemon_config
    it = _started(tmp_path, config, deploy_dirs, interval="1h")  # only the webhook is quick
    repo, v1, v2, port, first = it.repo, it.v1, it.v2, it.port, it.first
    server = start_server(tmp_path / "home", 1, "--deployments", str(repo))
    servers.append(server)

    def applied(commit: str) -> bool:
        found = {e["environment"]: e for e in server.get("/api/v1/gitops")["environments"]}
        return "web" in found and found["web"]["applied_commit"] == commit

    eventually(lambda: applied(first), 60, "the agent the server started synced")
    second = config.push({"envs/environments/web.yaml": _env(v2, port, 1)}, "v2")
    body = json.dumps({"ref": "refs/heads/main", "after": second}).encode()
    forged = httpx.post(server.url + "/api/v1/hooks/gitops", content=body,
                        headers={"x-hub-signature-256": "sha256=" + "0" * 64})  # fmt: skip
    assert forged.status_code == 401
    woken = httpx.post(server.url + "/api/v1/hooks/gitops", content=body,
                       headers=signed_headers("push", body))  # fmt: skip
    assert woken.status_code == 202, woken.text
    eventually(lambda: applied(second), 60, "the webhook's pass applied v2")

    # a hand deploy through the API is drift: a manual sync through the API reverts it
    headers = bearer(server.token)
    done = httpx.post(f"{server.url}/api/v1/environments/web/deploy", headers=headers,
                      json={"digest": v1}, timeout=30)  # fmt: skip
    assert done.status_code == 200, done.text
    synced = httpx.post(f"{server.url}/api/v1/gitops/sync", headers=headers,
                        json={"environments": ["web"]}, timeout=60)  # fmt: skip
    assert synced.status_code == 200, synced.text
    assert any("web: deploying" in a for a in synced.json()["actions"])
    unknown = httpx.post(f"{server.url}/api/v1/gitops/sync", headers=headers,
                         json={"environments": ["../etc"]}, timeout=60)  # fmt: skip
    assert unknown.status_code == 422 and "no environment '../etc'" in unknown.text
    assert any(e["action"] == "gitops sync" for e in server.get("/api/v1/audit"))
    page = httpx.get(f"{server.url}/environments/web", headers=headers, timeout=10)
    assert page.status_code == 200 and 'id="sync-status"' in page.text

    # flags.yaml beside the environments: the server applies it at the commit the agent
    # fetched; a kill switch thrown by hand stays, shown as drift, until the file changes
    def flags_file(enabled: bool) -> str:
        return ("flags:\n  new-checkout:\n    type: release\n    environments:\n"
                f"      web: {{enabled: {str(enabled).lower()}}}\n")  # fmt: skip

    def synced(commit: str) -> dict[str, Any]:
        report: dict[str, Any] = server.get("/api/v1/flags/sync")
        return report if report.get("commit") == commit else {}

    def web_flag() -> bool:
        (flag,) = server.get("/api/v1/flags?environment=web")
        return bool(flag["state"]["enabled"])

    third = config.push({"envs/flags.yaml": flags_file(True)}, "a flag")
    body = json.dumps({"ref": "refs/heads/main", "after": third}).encode()
    httpx.post(server.url + "/api/v1/hooks/gitops", content=body,
               headers=signed_headers("push", body)).raise_for_status()  # fmt: skip
    eventually(lambda: bool(synced(third)), 60, "the flags of the third commit applied")
    assert synced(third)["result"]["actions"] == ["new-checkout: create (release)",
                                                  "new-checkout in web: apply"]  # fmt: skip
    assert web_flag()
    httpx.post(f"{server.url}/api/v1/flags/new-checkout/environments/web", headers=headers,
               json={"enabled": False}).raise_for_status()  # fmt: skip
    eventually(lambda: bool(synced(third).get("result", {}).get("drift")), 30, "drift shown")
    assert not web_flag()  # kept: self-heal is off
    flags_page = httpx.get(f"{server.url}/flags?environment=web", headers=headers).text
    assert 'id="flag-sync"' in flags_page and ">drift<" in flags_page
    broken = config.push({"envs/flags.yaml": "flags: [\n"}, "a broken flags file")
    body = json.dumps({"ref": "refs/heads/main", "after": broken}).encode()
    httpx.post(server.url + "/api/v1/hooks/gitops", content=body,
               headers=signed_headers("push", body)).raise_for_status()  # fmt: skip
    eventually(lambda: bool(synced(broken)), 60, "the broken flags file read")
    assert "invalid YAML" in synced(broken)["result"]["problems"][0]
    assert not web_flag()  # nothing of a broken file applied


def test_a_pull_request_gets_its_plan_as_a_status_and_a_comment(
    tmp_path: Path,
    daemon_config: tuple[ConfigRepo, subprocess.Popen[bytes]],
    deploy_dirs: list,
    servers: list[Server],
    fake_forge: FakeForge,
    github_examples: list[dict[str, Any]],
    status_schema: dict[str, Any],
    comment_schema: dict[str, Any],
) -> None:
    config, _ = daemon_config
    it = _started(tmp_path, config, deploy_dirs, interval="1h")
    repo, v1, v2, port, first = it.repo, it.v1, it.v2, it.port, it.first
    server = start_server(tmp_path / "home", 1, "--deployments", str(repo),
                          "--github-api", fake_forge.api, LOCKGATE_GITHUB_TOKEN="forge-token")  # fmt: skip
    servers.append(server)

    def applied(commit: str) -> bool:  # the server's store, not the checkout's
        found = {e["environment"]: e for e in server.get("/api/v1/gitops")["environments"]}
        return "web" in found and found["web"]["applied_commit"] == commit

    eventually(lambda: applied(first), 60, "v1 applied")

    # a pull request: its head is refs/pull/7/head on the forge, as GitHub keeps it
    git(config.clone, "checkout", "-q", "-b", "bump")
    fenced = _env(v2, port, 2).replace("readiness-timeout: 20", "smoke-command: 'echo ```'")
    head = config.push({"envs/environments/web.yaml": fenced}, "v2")
    git(config.clone, "push", "-q", "origin", "HEAD:refs/pull/7/head")
    example = next(e for e in github_examples if e["name"] == "pull_request")["examples"]
    opened = next(e for e in example if e["action"] == "opened")
    delivery = {**opened, "number": 7,
                "pull_request": {**opened["pull_request"], "number": 7,
                                 "head": {**opened["pull_request"]["head"], "sha": head}},
                "repository": {**opened["repository"], "full_name": "octo/config"}}  # fmt: skip
    body = json.dumps(delivery).encode()
    answer = httpx.post(server.url + "/api/v1/hooks/gitops", content=body,
                        headers=signed_headers("pull_request", body))  # fmt: skip
    assert answer.status_code == 202 and answer.json() == {"plan": "requested"}, answer.text
    eventually(lambda: len(fake_forge.received) == 2, 60, "a status and a comment")

    sent = {path: (headers, sent) for path, headers, sent in fake_forge.received}
    headers, status = sent[f"/repos/octo/config/statuses/{head}"]
    jsonschema.validate(status, status_schema)
    assert headers["Authorization"] == "Bearer forge-token"
    assert (status["state"], status["context"]) == ("success", "lockgate/plan")
    assert status["description"] == "0 to add, 1 to change, 0 to remove"
    _, comment = sent["/repos/octo/config/issues/7/comments"]
    jsonschema.validate(comment, comment_schema)
    text = comment["body"]
    assert "~ web" in text and f"~ digest: {v1[:12]}" in text and "target.replicas: 1 -> 2" in text
    assert "````diff" in text  # the config's own ``` cannot close the fence early
    for hostile in (
        b"",
        b"{",
        b"null",
        b"[]",
        b'{"action": "opened", "pull_request": "x"}',
        json.dumps(
            {**delivery, "pull_request": {**delivery["pull_request"], "number": "7; rm -rf /"}}
        ).encode(),
    ):
        said = httpx.post(server.url + "/api/v1/hooks/gitops", content=hostile,
                          headers=signed_headers("pull_request", hostile))  # fmt: skip
        assert said.status_code == 400 or said.json() == {
            "plan": "not asked for by this delivery"
        }, (hostile, said.status_code, said.text)  # fmt: skip
    assert applied(first)  # planned, not applied
    assert server.get("/api/v1/environments/web/deployments")[0]["digest"] == v1


@pytest.mark.parametrize("moment", ["the pass began", "the rollout began"])
def test_an_agent_killed_during_a_pass_loses_nothing_and_deploys_once(
    tmp_path: Path,
    daemon_config: tuple[ConfigRepo, subprocess.Popen[bytes]],
    deploy_dirs: list,
    moment: str,
) -> None:
    config, _ = daemon_config
    it = _started(tmp_path, config, deploy_dirs, interval="1h", replicas=2)
    assert lockgate("gitops", "sync", cwd=it.repo).returncode == 0
    eventually(lambda: _converged(it.repo, "web", it.v1, it.first), 60, "v1 converged")
    wake = it.repo / ".lockgate" / "gitops" / "sync-requested"
    records = DeploymentRecords(Store(default_url(it.repo)))

    def deployed(commit: str) -> list[Rollout]:
        return [r for r in records.history("web") if r.config_commit == commit]

    with Load(it.port) as load:
        second = config.push({"envs/environments/web.yaml": _env(it.v2, it.port, 2)}, "v2")
        lockgate("gitops", "notify", cwd=it.repo)
        began = (
            (lambda: not wake.exists())
            if moment == "the pass began"
            else (lambda: bool(deployed(second)))
        )
        eventually(began, 30, moment)
        stop_agent(it.repo)  # kill -9, then the next notify starts another
        lockgate("gitops", "notify", cwd=it.repo)
        eventually(lambda: _converged(it.repo, "web", it.v2, second), 60, "v2 converged")
    assert load.errors == [], load.errors
    assert len(deployed(second)) == 1  # carried on, never deployed twice
