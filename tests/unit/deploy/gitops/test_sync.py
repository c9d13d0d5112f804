"""A sync pass's decisions on an injected clock, through real git and a real store: a desired
state that cannot be applied is tried, backed off from (5 min, then 10, ...), and tried again
at once on a manual sync or a new commit. Nothing here starts an instance: the digest is not
in the store, so every apply fails before a rollout begins."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lockgate.deploy.gitops.sync import GitopsSync, SyncRequest
from lockgate.deploy.service import DeployService
from lockgate.store import Store
from lockgate.store.deployments import DeploymentRecords
from lockgate.store.gitops import GitopsRecords, SyncStatus
from lockgate.workflow.project import GitopsSourceSettings

from .configrepo import commit

MISSING = "f" * 64


def test_a_failing_desired_state_is_backed_off_from_and_retried(tmp_path: Path) -> None:
    config = tmp_path / "config"
    subprocess.run(["git", "init", "-q", "-b", "main", str(config)], check=True)
    env = f"app: web\ndigest: {MISSING}\ntarget: {{replicas: 1}}\n"
    commit(
        config, {"environments/web.yaml": env, "lockgate-gitops.yaml": "sync: {self-heal: true}\n"}
    )
    deploying = tmp_path / "deploy"
    deploying.mkdir()
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    service = DeployService(deploying, DeploymentRecords(store))
    settings = GitopsSourceSettings.model_validate({"repository": str(config)})
    now = [1_000_000.0]
    sync = GitopsSync(service, settings, GitopsRecords(store), clock=lambda: now[0])

    def state():  # type: ignore[no-untyped-def]
        return GitopsRecords(store).environment("web")

    first = sync.run()
    assert any("cannot apply" in a and MISSING[:12] in a for a in first.actions), first.actions
    assert (state().failures, state().retry_at, state().health) == (1, now[0] + 300, "degraded")
    assert state().sync == SyncStatus.OUT_OF_SYNC

    now[0] += 200  # inside the backoff: not tried again, said why
    assert sync.run().actions == []
    assert "not retried before" in state().message

    now[0] += 101  # past it: tried again, and backed off twice as long
    assert any("cannot apply" in a for a in sync.run().actions)
    assert (state().failures, state().retry_at) == (2, now[0] + 600)

    assert any("cannot apply" in a for a in sync.run(SyncRequest(manual=True)).actions)
    assert state().failures == 3  # a manual sync tries at once

    commit(config, {"environments/web.yaml": env.replace("replicas: 1", "replicas: 2")})
    assert any("cannot apply" in a for a in sync.run().actions)  # a new commit: at once
    assert (state().failures, state().retry_at) == (1, now[0] + 300)  # its own backoff
    assert DeploymentRecords(store).latest("web") is None  # no rollout ever began
