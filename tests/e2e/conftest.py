"""Fixtures of the end-to-end tests (the shared helpers are in tests/conftest.py)."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import need
from .fleet import fleet_repo, teardown
from .serving import COMMENTS, EXAMPLES, STATUSES, FakeForge


@pytest.fixture
def fleets(tmp_path: Path) -> Iterator[Callable[..., tuple[Path, int]]]:
    """`fleet_repo` (fleet.py) whose agent, instances and router are stopped after the
    test, whatever it did."""
    made: list[Path] = []

    def make(replicas: int, strategy: str, **extra: object) -> tuple[Path, int]:
        repo, port = fleet_repo(tmp_path, replicas, strategy, **extra)
        made.append(repo)
        return repo, port

    yield make
    for repo in made:
        teardown(repo)


@pytest.fixture(scope="session")
def github_examples(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """GitHub's example deliveries, per event: [{name, examples}]."""
    need(shutil.which("npm") is not None, "npm is not installed")
    where = tmp_path_factory.mktemp("npm")
    done = subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(where), EXAMPLES],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    need(done.returncode == 0, f"npm could not install {EXAMPLES}: {done.stderr[-300:]}")
    index = where / "node_modules" / EXAMPLES / "api.github.com" / "index.json"
    return list(json.loads(index.read_text()))


@pytest.fixture(scope="session")
def github_api(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """GitHub's own description of its REST API (the npm package @octokit/openapi)."""
    need(shutil.which("npm") is not None, "npm is not installed")
    where = tmp_path_factory.mktemp("openapi")
    done = subprocess.run(["npm", "pack", "--silent", "@octokit/openapi"], cwd=where,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    need(done.returncode == 0, f"npm could not fetch @octokit/openapi: {done.stderr[-300:]}")
    (tarball,) = where.glob("*.tgz")
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/generated/api.github.com.deref.json")
        assert member is not None
        return dict(json.load(member))


def _request_schema(
    description: dict[str, Any], path: str, parameters: list[str]
) -> dict[str, Any]:
    """The JSON body schema of POST `path`, whose path parameters must be `parameters`."""
    operation = description["paths"][path]["post"]
    assert [p["name"] for p in operation["parameters"]] == parameters
    return dict(operation["requestBody"]["content"]["application/json"]["schema"])


@pytest.fixture(scope="session")
def status_schema(github_api: dict[str, Any]) -> dict[str, Any]:
    """The request body of POST /repos/{owner}/{repo}/statuses/{sha}."""
    return _request_schema(github_api, STATUSES, ["owner", "repo", "sha"])


@pytest.fixture(scope="session")
def comment_schema(github_api: dict[str, Any]) -> dict[str, Any]:
    """The request body of POST /repos/{owner}/{repo}/issues/{issue_number}/comments."""
    return _request_schema(github_api, COMMENTS, ["owner", "repo", "issue_number"])


@pytest.fixture
def fake_forge() -> Iterator[FakeForge]:
    received: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, dict(self.headers), body))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    forge = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=forge.serve_forever, daemon=True).start()
    yield FakeForge(f"http://127.0.0.1:{forge.server_address[1]}", received)
    forge.shutdown()
