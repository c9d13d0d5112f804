"""Fixtures of the end-to-end tests (the shared helpers are in tests/conftest.py)."""

from __future__ import annotations

import fcntl
import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import need
from .fleet import fleet_repo, teardown
from .forgedouble import typescript_schema
from .serving import COMMENTS, EXAMPLES, PULLS, REFS, STATUSES, FakeForge


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


def _once_for_all_workers(
    factory: pytest.TempPathFactory, name: str, make: Callable[[Path], Any]
) -> Any:
    """What `make(folder)` returns (JSON), built by the first parallel worker that asks and
    read by the others: each npm download and parse is seconds of a loaded machine."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' common temporary root
    kept = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not kept.exists():
            folder = root / name
            folder.mkdir(exist_ok=True)
            part = kept.with_suffix(".part")
            part.write_text(json.dumps(make(folder)))
            part.replace(kept)
    return json.loads(kept.read_text())


def _examples(where: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(where), EXAMPLES],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    need(done.returncode == 0, f"npm could not install {EXAMPLES}: {done.stderr[-300:]}")
    index = where / "node_modules" / EXAMPLES / "api.github.com" / "index.json"
    return list(json.loads(index.read_text()))


@pytest.fixture(scope="session")
def github_examples(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """GitHub's example deliveries, per event: [{name, examples}]."""
    need(shutil.which("npm") is not None, "npm is not installed")
    return list(_once_for_all_workers(tmp_path_factory, "github-examples", _examples))


def _packed_file(where: Path, package: str, path: str) -> bytes:
    """One file of an npm package, fetched as its tarball into `where`."""
    done = subprocess.run(["npm", "pack", "--silent", package], cwd=where,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    need(done.returncode == 0, f"npm could not fetch {package}: {done.stderr[-300:]}")
    (tarball,) = where.glob("*.tgz")
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(f"package/{path}")
        assert member is not None
        return member.read()


def _request_schemas(where: Path) -> dict[str, Any]:
    """From GitHub's own description of its REST API (the npm package @octokit/openapi): the
    JSON body schema of each POST the forge tests send, whose path parameters are checked."""
    description = json.loads(
        _packed_file(where, "@octokit/openapi", "generated/api.github.com.deref.json")
    )
    schemas = {}
    for path, method, parameters in (
        (STATUSES, "post", ["owner", "repo", "sha"]),
        (COMMENTS, "post", ["owner", "repo", "issue_number"]),
        (REFS, "patch", ["owner", "repo", "ref"]),
        (PULLS, "get", ["owner", "repo", "pull_number"]),
    ):
        operation = description["paths"][path][method]
        assert [p["name"] for p in operation["parameters"]] == parameters
        if "requestBody" in operation:
            schemas[path] = operation["requestBody"]["content"]["application/json"]["schema"]
    return schemas


def _gitea_schemas(where: Path) -> dict[str, Any]:
    """Gitea's request bodies, from its swagger as the npm package gitea-js (generated from it)
    declares them, with the routes the merge queue calls checked to be there."""
    declarations = _packed_file(where, "gitea-js@1.23.0", "dist/index.d.ts").decode()
    for route in ("POST:/repos/{owner}/{repo}/statuses/{sha}",
                  "POST:/repos/{owner}/{repo}/issues/{index}/comments",
                  "GET:/repos/{owner}/{repo}/pulls/{index}",
                  "POST:/repos/{owner}/{repo}/pulls/{index}/merge"):  # fmt: skip
        assert f"@request {route}\n" in declarations, route
    aliases = {"CommitStatusState": "string"}  # the swagger says only "string"
    return {
        "statuses": typescript_schema(declarations, "CreateStatusOption", aliases),
        "comments": typescript_schema(declarations, "CreateIssueCommentOption", aliases),
        "merge": typescript_schema(declarations, "MergePullRequestOption", aliases),
    }


@pytest.fixture(scope="session")
def gitea_request_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    need(shutil.which("npm") is not None, "npm is not installed")
    return dict(_once_for_all_workers(tmp_path_factory, "gitea-requests", _gitea_schemas))


@pytest.fixture(scope="session")
def github_request_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    need(shutil.which("npm") is not None, "npm is not installed")
    return dict(_once_for_all_workers(tmp_path_factory, "github-requests", _request_schemas))


@pytest.fixture(scope="session")
def status_schema(github_request_schemas: dict[str, Any]) -> dict[str, Any]:
    """The request body of POST /repos/{owner}/{repo}/statuses/{sha}."""
    return dict(github_request_schemas[STATUSES])


@pytest.fixture(scope="session")
def comment_schema(github_request_schemas: dict[str, Any]) -> dict[str, Any]:
    """The request body of POST /repos/{owner}/{repo}/issues/{issue_number}/comments."""
    return dict(github_request_schemas[COMMENTS])


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


SDKS = ["UnleashClient>=6,<7", "openfeature-sdk>=0.8", "openfeature-provider-ofrep>=0.2"]


def _sdk_venv(where: Path) -> str:
    """A venv holding the flag SDKs applications use, from PyPI: Unleash's, and OpenFeature's
    with its OFREP provider (their pins clash with lockgate's dev tools, and an application has
    its own environment anyway); its interpreter."""
    venv = where / "venv"
    uv = str(Path(sys.executable).parent / "uv")  # the dev extras': pip's work in seconds
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                   timeout=120)  # fmt: skip
    done = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *SDKS],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    need(done.returncode == 0, f"pip could not install {SDKS}: {done.stderr[-300:]}")
    return str(venv / "bin" / "python")


@pytest.fixture(scope="session")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The interpreter of a venv with Unleash's and OpenFeature's Python SDKs."""
    return str(_once_for_all_workers(tmp_path_factory, "flag-sdks", _sdk_venv))


SPECIFICATION = "@unleash/client-specification@6"


def _specification(where: Path) -> list[dict[str, Any]]:
    """Unleash's client specification (npm): every case its SDKs must answer alike."""
    done = subprocess.run(["npm", "pack", "--silent", SPECIFICATION], cwd=where,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    need(done.returncode == 0, f"npm could not fetch {SPECIFICATION}: {done.stderr[-300:]}")
    (tarball,) = where.glob("*.tgz")
    found = []
    with tarfile.open(tarball) as archive:
        index = archive.extractfile("package/specifications/index.json")
        assert index is not None
        for name in json.load(index):
            member = archive.extractfile(f"package/specifications/{name}")
            assert member is not None
            found.append({"file": name, **json.load(member)})
    return found


@pytest.fixture(scope="session")
def unleash_specification(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    need(shutil.which("npm") is not None, "npm is not installed")
    return list(_once_for_all_workers(tmp_path_factory, "unleash-specification", _specification))


JS_SDKS = ["@openfeature/server-sdk@1", "@openfeature/ofrep-provider@0"]


def _js_sdks(where: Path) -> str:
    """OpenFeature's JavaScript server SDK and its OFREP provider (npm); the folder whose
    node_modules holds them."""
    done = subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(where), *JS_SDKS],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    need(done.returncode == 0, f"npm could not install {JS_SDKS}: {done.stderr[-300:]}")
    return str(where)


@pytest.fixture(scope="session")
def js_sdks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need(shutil.which("npm") is not None, "npm is not installed")
    return Path(_once_for_all_workers(tmp_path_factory, "flag-sdks-js", _js_sdks))
