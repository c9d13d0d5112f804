"""The deploy service resolves environments the same way for every caller: by file only where
files are allowed (the CLI), by the name of a deployed environment everywhere, never a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.deploy.service import DeployService, UnknownEnvironment
from lockgate.store import Store
from lockgate.store.deployments import DeploymentRecords

ENV = "app: hello\nenvironment: staging\ntarget: {replicas: 1}\nrouter: {type: builtin, port: 1}\n"


def _services(tmp_path: Path) -> tuple[Path, DeployService, DeployService]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "staging.yaml").write_text(ENV)
    records = DeploymentRecords(Store(f"sqlite:///{tmp_path / 'store.db'}"))
    return repo, DeployService(repo, records), DeployService(repo, records, files=False)


def test_a_file_is_kept_and_then_known_by_its_name(tmp_path: Path) -> None:
    repo, cli, server = _services(tmp_path)
    assert cli.names() == [] and server.names() == []
    reconciler = cli.resolve(str(repo / "staging.yaml"))
    assert reconciler.name == "staging"
    kept = repo / ".lockgate" / "fleet" / "staging" / "environment.yaml"
    assert kept.read_text() == ENV
    assert server.names() == ["staging"] and server.named("staging").spec.app == "hello"


def test_names_only_means_no_path_is_ever_read(tmp_path: Path) -> None:
    repo, _, server = _services(tmp_path)
    with pytest.raises(UnknownEnvironment):
        server.resolve("staging")  # a file of that name exists nowhere it looks
    with pytest.raises(UserError):  # a path, refused as a name before anything is read
        server.resolve(str(repo / "staging.yaml"))
    with pytest.raises(UserError):
        server.history("../../etc")
    assert not (repo / ".lockgate").exists()  # and nothing was written
