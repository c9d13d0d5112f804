"""Deploying to real hosts over SSH (three sshd on 127.0.0.2-4): rollouts across hosts under
load through the router, lockgate installed on each host from a wheel, bundles copied once and
checked, a broken transfer resumed, and host keys verified."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from .conftest import lockgate
from .fleet import Fleets, app_version, build, deploy, deploy_under_load, processes_of, status
from .sshd import Hosts, ssh_hosts

pytestmark = pytest.mark.integration
__all__ = ["ssh_hosts"]  # the fixture, used by name


def _on_hosts(fleets: Fleets, hosts: Hosts, **target: object) -> tuple[Path, int]:
    """A fleet repository whose environment runs on the SSH hosts (rolling, max-surge 2)."""
    repo, port = fleets(1, "rolling", **{"max-surge": 2})
    env = (repo / "env.yaml").read_text().replace("target: {replicas: 1}\n", "")
    (repo / "env.yaml").write_text(env + f"target: {json.dumps(hosts.target(**target))}\n")
    return repo, port


def _bundle_on(host_base: Path, digest: str) -> Path:
    return host_base / "bundles" / f"{digest}.tar.gz"


def test_rollouts_across_hosts_keep_serving(ssh_hosts: Hosts, fleets: Fleets) -> None:
    repo, port = _on_hosts(fleets, ssh_hosts, **{"instances-per-host": 2})
    v1 = build(repo, app_version(repo, "v1"))
    v2 = build(repo, app_version(repo, "v2", start_delay_ms=200))
    code, report = deploy(repo, v1)
    assert code == 0, report
    view = status(repo)
    assert len(view["instances"]) == 6
    hosts = {i["address"].rsplit(":", 1)[0] for i in view["instances"]}
    assert hosts == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}  # spread, each on its own address
    for host in ssh_hosts.hosts:  # lockgate and the bundle were put there, checked
        assert list((host.base / "lockgate").glob("lockgate-*/bin/python"))
        copied = _bundle_on(host.base, v1)
        assert hashlib.sha256(copied.read_bytes()).hexdigest() == v1
    load = deploy_under_load(repo, port, v2)
    assert {body.split()[1] for _, _, body in load.results} == {"v1", "v2"}
    view = status(repo)
    assert {i["digest"] for i in view["instances"]} == {v2} and view["health"] == "healthy"
    copied = {h.address: _bundle_on(h.base, v2).stat().st_mtime_ns for h in ssh_hosts.hosts}
    assert deploy(repo, v2)[0] == 0  # a redeploy of what runs
    again = {h.address: _bundle_on(h.base, v2).stat().st_mtime_ns for h in ssh_hosts.hosts}
    assert again == copied  # a digest a host holds is not sent again
    ids = {i["id"] for i in status(repo)["instances"]}

    def running() -> set[str]:
        return {i for h in ssh_hosts.hosts for i in processes_of(h.base / "fleet/test")}

    deadline = time.monotonic() + 30  # the replaced ones drain, then stop
    while running() != ids:
        assert time.monotonic() < deadline, (running(), ids)  # no orphans, none left over
        time.sleep(0.1)


def test_a_broken_transfer_is_resumed_and_checked(ssh_hosts: Hosts, fleets: Fleets) -> None:
    repo, _ = _on_hosts(fleets, ssh_hosts, replicas=3)
    v1 = build(repo, app_version(repo, "v1"))
    data = (repo / ".lockgate" / "bundles" / f"{v1}.tar.gz").read_bytes()
    first, second, third = (h.base for h in ssh_hosts.hosts)
    _bundle_on(first, v1).parent.mkdir(parents=True)
    Path(f"{_bundle_on(first, v1)}.part").write_bytes(data[: len(data) // 2])  # cut halfway
    _bundle_on(second, v1).parent.mkdir(parents=True)
    Path(f"{_bundle_on(second, v1)}.part").write_bytes(b"x" * 100)  # not a beginning of it
    code, report = deploy(repo, v1)
    assert code == 0, report
    for base in (first, second, third):
        assert hashlib.sha256(_bundle_on(base, v1).read_bytes()).hexdigest() == v1
        assert not Path(f"{_bundle_on(base, v1)}.part").exists()


def test_unknown_and_changed_host_keys_are_refused(ssh_hosts: Hosts, fleets: Fleets) -> None:
    repo, _ = _on_hosts(fleets, ssh_hosts, replicas=3)
    v1 = build(repo, app_version(repo, "v1"))
    lines = ssh_hosts.known_hosts.read_text().splitlines()
    ssh_hosts.known_hosts.write_text("\n".join(lines[1:]) + "\n")  # the first host unknown
    done = lockgate("deploy", "env.yaml", "--artifact", v1, cwd=repo)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "127.0.0.2" in done.stderr and "not known" in done.stderr
    assert "ssh-keyscan" in done.stderr and "Traceback" not in done.stderr
    other = ssh_hosts.hosts[1].key_line.split()[1:]
    forged = f"{lines[0].split()[0]} {' '.join(other)}"  # another host's key under its name
    ssh_hosts.known_hosts.write_text("\n".join([forged, *lines[1:]]) + "\n")
    done = lockgate("deploy", "env.yaml", "--artifact", v1, cwd=repo)
    assert done.returncode == 2 and "changed" in done.stderr and "ssh-keygen -R" in done.stderr
    assert lockgate("status", "test", "-o", "json", cwd=repo).returncode == 0
    assert not list(ssh_hosts.hosts[0].base.glob("fleet/*/instances/*/*.log"))  # nothing ran
