"""Real SSH hosts for deployment tests: one sshd per host, each on its own loopback address
(127.0.0.N binds on lo without set-up), with its own host key and base directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lockgate.common.filelocks import held
from lockgate.common.ports import free_port

from ..conftest import need
from .fleet import processes_of

SSHD = "/usr/sbin/sshd"


@dataclass
class Host:
    address: str
    port: int
    base: Path  # its base directory (all hosts are this machine, each with its own)
    key_line: str  # its host key as known_hosts has it
    config: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.config.with_suffix(".log")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-f", str(self.config), "-E", str(log)], start_new_session=True
        )
        deadline = time.monotonic() + 15
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.address, self.port), 1),
            ):
                return
            assert self.process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"sshd on {self.address}:{self.port} did not start"
            time.sleep(0.05)

    @classmethod
    def made(cls, root: Path, n: int) -> Host:
        """A started sshd on 127.0.0.`n` with its own host key, trusting root/authorized_keys;
        its base directory is root/base`n`."""
        address, port = f"127.0.0.{n}", free_port(f"127.0.0.{n}")
        key = keygen(root / f"host{n}")
        config = root / f"sshd{n}.conf"
        config.write_text(
            f"Port {port}\nListenAddress {address}\nHostKey {root / f'host{n}'}\n"
            f"PidFile {root / f'sshd{n}.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
            # Each host its own home: a session's shell reads the host's ~/.bashrc, not this
            # machine's (whose version manager set-up forked ~40 processes a session).
            f"SetEnv HOME={root / f'home{n}'}\n"
        )
        (root / f"home{n}").mkdir(exist_ok=True)
        kind, blob = key.split()[:2]
        host = cls(address, port, root / f"base{n}", f"[{address}]:{port} {kind} {blob}", config)
        host.start()
        return host

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)

    def cut(self) -> None:
        """The host drops off the network: sshd and every session it serves are killed (what
        they started, the instances and lockgate's agent there, runs on)."""
        assert self.process is not None
        sessions = _descendants(self.process.pid, named="sshd")
        self.stop()
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def agent(self) -> int | None:
        """The pid of lockgate's agent on this host, when one runs."""
        lock = self.base / "agent.lock"
        if not held(lock):
            return None
        pid = lock.read_text().split()[0]
        return int(pid) if pid.isdigit() else None

    def stop_agent(self) -> None:
        pid = self.agent()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.agent() is not None and time.monotonic() < deadline:
                time.sleep(0.02)

    def entry(self) -> dict[str, object]:
        """The host as an environment file lists it."""
        return {"address": self.address, "port": self.port, "base-dir": str(self.base)}


@dataclass
class Hosts:
    hosts: list[Host]
    identity: Path
    known_hosts: Path

    def target(self, **extra: object) -> dict[str, object]:
        """An environment file's `target:` for these hosts."""
        return {
            "type": "ssh",
            "user": "root",
            "identity-file": str(self.identity),
            "known-hosts": str(self.known_hosts),
            "hosts": [h.entry() for h in self.hosts],
            **extra,
        }


def _descendants(root: int, named: str) -> list[int]:
    """Processes below `root` whose command name starts with `named`."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
            names[int(entry.name)] = (entry / "comm").read_text().strip()
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += [child for child in children if names.get(child, "").startswith(named)]
        frontier += children
    return found


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def ssh_hosts(tmp_path: Path) -> Iterator[Hosts]:
    """Three SSH hosts, 127.0.0.2 to 127.0.0.4, that trust one client key."""
    need(Path(SSHD).exists() and shutil.which("ssh-keygen") is not None, "sshd is not installed")
    need(os.geteuid() == 0, "sshd needs root here")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    root = tmp_path / "ssh"
    root.mkdir()
    client = keygen(root / "client")
    (root / "authorized_keys").write_text(client + "\n")
    hosts = [Host.made(root, n) for n in (2, 3, 4)]
    known_hosts = root / "known_hosts"
    known_hosts.write_text("".join(h.key_line + "\n" for h in hosts))
    try:
        yield Hosts(hosts, root / "client", known_hosts)
    finally:
        for host in hosts:
            # sshd and its sessions: a session's hostserver left running would start the
            # host's agent again, and the agent the instances
            if host.process is not None and host.process.poll() is None:
                host.cut()
            host.stop_agent()  # then the agent: it would start the instances below again
            fleets = (host.base / "fleet").glob("*") if (host.base / "fleet").is_dir() else []
            for fleet in fleets:
                for pid in processes_of(fleet).values():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(os.getpgid(pid), signal.SIGKILL)
