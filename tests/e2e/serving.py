"""A real `lockgate serve` for tests: started on a free port with an admin token, stopped
(killed) when the test ends; and GitHub-style signed deliveries."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.common.ports import free_port

from ..conftest import LOCKGATE, git, lockgate, make_repo
from .fleet import eventually

SECRET = "s3cret-webhook"


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(event: str, body: bytes, delivery: str = "d-1", **extra: str) -> dict[str, str]:
    return {"x-github-event": event, "x-github-delivery": delivery,
            "x-hub-signature-256": signed(body), **extra}  # fmt: skip


@dataclass
class Server:
    home: Path
    port: int
    process: subprocess.Popen[bytes]
    token: str  # an admin's

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, token: str | None = None) -> Any:
        answer = httpx.get(self.url + path, timeout=10, headers=bearer(token or self.token))
        assert answer.status_code == 200, answer.text
        return answer.json()


def sse_events(server: Server, path: str) -> list[tuple[str, str]]:
    """The server-sent events of `path`, as (event, data), until the stream ends."""
    found, kind = [], ""
    with httpx.stream("GET", server.url + path, headers=bearer(server.token), timeout=60) as s:
        for line in s.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                found.append((kind, line.removeprefix("data: ")))
    return found


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_token(home: Path, name: str, role: str, *extra: str) -> str:
    """A token of `role` (`extra`: `--db URL` for a server on another store)."""
    done = lockgate("token", "create", name, "--role", role, "--home", str(home), *extra,
                    cwd=home.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_server(
    home: Path,
    workers: int,
    *extra: str,
    port: int | None = None,
    log: Path | None = None,
    wrap: tuple[str, ...] = (),
    direct: bool = False,
    **env: str,
) -> Server:
    """`lockgate serve` on `port` (a free one), answering; its stderr to `log`, if given.

    As a user's `lockgate serve` runs: forked by the warm launcher (launcher.py), a second
    where a fresh interpreter takes one; `Server.process` is then the command's client, and
    killing it (even with -9) kills the server. `direct`: the process is the server itself (a
    test reading its memory); `wrap`: a command it is started through, which must exec it (a
    namespace of its own: so also direct)."""
    if port is not None:  # a restart: the killed server's port frees as it dies
        eventually(lambda: port_free(port), 30, f"port {port} free")
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    launcher = {"LOCKGATE_DAEMON": "0"} if direct or wrap else {}
    admin = f"admin-{port}-{time.monotonic_ns()}"
    at = extra.index("--db") if "--db" in extra else None
    token = make_token(home, admin, "admin", *(extra[at : at + 2] if at is not None else ()))
    process = subprocess.Popen(
        [*wrap, str(LOCKGATE), "serve", "--home", str(home), "--port", str(port),
         "--workers", str(workers), *extra],
        env={**os.environ, "LOCKGATE_WEBHOOK_SECRET": SECRET, **launcher, **env},
        stdout=subprocess.DEVNULL, stderr=log.open("ab") if log else subprocess.DEVNULL,
    )  # fmt: skip
    server = Server(home, port, process, token)

    def up() -> bool:
        assert process.poll() is None, "lockgate serve exited"
        try:
            return httpx.get(server.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(up, 60, "lockgate serve answering")
    return server


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


def bare_repository(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    """A working copy (tmp_path/src) holding `files` on main, and its bare clone
    (tmp_path/app.git): what a git server holds and the server fetches from."""
    source = make_repo(tmp_path / "src", files)
    bare = tmp_path / "app.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(bare))
    return source, bare


def register(server: Server, source: str | Path, forge: str = "git", **extra: str) -> None:
    """Let the server run `source`: an admin's registration, through the API."""
    answer = httpx.post(server.url + "/api/v1/repositories", headers=bearer(server.token),
                        json={"source": str(source), "forge": forge, **extra})  # fmt: skip
    assert answer.status_code == 201, answer.text


def dispatch(server: Server, bare: Path, token: str) -> httpx.Response:
    """A manual run (workflow_dispatch) of main through the API."""
    return httpx.post(server.url + "/api/v1/runs", headers=bearer(token),
                      json={"repository": str(bare), "ref": "refs/heads/main"})  # fmt: skip


EXAMPLES = "@octokit/webhooks-examples"
STATUSES = "/repos/{owner}/{repo}/statuses/{sha}"
COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
REFS = "/repos/{owner}/{repo}/git/refs/{ref}"
PULLS = "/repos/{owner}/{repo}/pulls/{pull_number}"


@dataclass
class FakeForge:
    """A forge's API that takes every POST (201) and keeps it as (path, headers, body); what
    lockgate sends is checked against the forge's published schema."""

    api: str
    received: list[tuple[str, dict[str, str], dict[str, Any]]]
