"""A multi-region environment in the config repository: a sync keeps the parent's file and
each region's, and starts a release through the waves (recording the config commit), not a
rollout of one fleet. Through real git and a real store; nothing is started (no agent)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from lockgate.artifacts import signed
from lockgate.common.statedir import state_dir
from lockgate.deploy.gitops.sync import GitopsSync
from lockgate.deploy.launch import environment_files
from lockgate.deploy.service import DeployService
from lockgate.store import Store
from lockgate.store.deployments import DeploymentRecords, RolloutStatus
from lockgate.store.gitops import GitopsRecords
from lockgate.workflow.project import GitopsSourceSettings

from .configrepo import commit

EXAMPLE_APP = Path(__file__).resolve().parents[4] / "examples" / "app"


def test_a_commit_of_a_multi_region_environment_starts_a_release(tmp_path: Path) -> None:
    deploying = tmp_path / "deploy"
    subprocess.run(["git", "init", "-q", "-b", "main", str(deploying)], check=True)
    shutil.copytree(EXAMPLE_APP, deploying / "app")
    commit(deploying, {})
    digest = signed.build_signed(deploying / "app", state_dir(deploying)).digest
    regions = [
        {"name": "eu", "router": {"port": 9101}, "target": {"replicas": 2}},
        {"name": "us", "router": {"port": 9102}},
    ]
    shop = {
        "app": "hello", "digest": digest, "global-router": {"port": 9100}, "regions": regions,
        "waves": [{"regions": ["eu"], "instances": 1, "bake": "30m"}, {"regions": ["eu", "us"]}],
    }  # fmt: skip
    config = tmp_path / "config"
    subprocess.run(["git", "init", "-q", "-b", "main", str(config)], check=True)
    sha = commit(config, {"environments/shop.yaml": json.dumps(shop)})
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    service = DeployService(deploying, DeploymentRecords(store))
    settings = GitopsSourceSettings.model_validate({"repository": str(config)})
    report = GitopsSync(service, settings, GitopsRecords(store)).run()
    assert any("shop: deploying" in a for a in report.actions), report.actions
    release = service.records.latest("shop")
    assert release is not None and (release.kind, release.strategy) == ("release", "waves")
    assert (release.digest, release.config_commit, release.status) == (
        digest, sha, RolloutStatus.PROGRESSING,
    )  # fmt: skip
    kept = environment_files(service.state)
    assert set(kept) == {"shop", "shop.eu", "shop.us"}
    assert json.loads(kept["shop.eu"].read_text())["part-of"] == "shop"
    assert service.records.latest("shop.eu") is None  # the agent's first pass deploys it
