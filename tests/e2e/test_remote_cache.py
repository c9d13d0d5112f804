"""The shared remote cache (Bazel HTTP protocol) against a real nginx WebDAV server; a slow,
failing or corrupt remote is a miss and a warning, never a failed pipeline."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.common.ports import free_port

from ..conftest import cached_from, jobs_by_key, make_repo, run_json
from .nginx import running_nginx

pytestmark = pytest.mark.integration

WORKFLOW = """
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      size: ${{ steps.b.outputs.size }}
    steps:
      - uses: actions/checkout@v4
      - id: b
        run: |
          echo "building $(cat app.txt)"
          echo "size=$(wc -c < app.txt)" >> "$GITHUB_OUTPUT"
  check:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo "checked ${{ needs.build.outputs.size }}"
"""


@pytest.fixture(scope="module")
def webdav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """nginx serving PUT/GET on 127.0.0.1 from a temporary directory: (url, data dir)."""
    root = tmp_path_factory.mktemp("nginx")
    data = root / "data"
    data.mkdir()
    location = f"""    location / {{
      root {data};
      dav_methods PUT DELETE;
      create_full_put_path on;
      client_max_body_size 0;
    }}"""
    with running_nginx(root, location) as port:
        yield f"http://127.0.0.1:{port}/cache", data


def _repo(tmp_path: Path, name: str) -> Path:
    return make_repo(tmp_path / name, {".github/workflows/ci.yml": WORKFLOW, "app.txt": "app\n"})


def test_a_teammate_reuses_results_through_the_remote(
    tmp_path: Path, webdav: tuple[str, Path]
) -> None:
    url, data = webdav
    mine, theirs = _repo(tmp_path, "mine"), _repo(tmp_path, "theirs")
    code, first = run_json(mine, "--remote-cache", url)
    assert code == 0, first
    assert list((data / "cache" / "ac").iterdir()) and list((data / "cache" / "cas").iterdir())
    code, report = run_json(theirs, env={"LOCKGATE_REMOTE_CACHE": url})
    assert code == 0, report
    source = first["runs"][0]["run_id"]
    assert cached_from(report) == {"build": source, "check": source}
    assert jobs_by_key(report)["build"]["outputs"] == jobs_by_key(first)["build"]["outputs"]
    # The hit was copied to the local cache: the next run needs no remote at all.
    code, report = run_json(theirs)
    assert cached_from(report) == {"build": source, "check": source}


def test_a_corrupt_remote_blob_is_never_restored(tmp_path: Path, webdav: tuple[str, Path]) -> None:
    url, data = webdav
    shutil.rmtree(data / "cache", ignore_errors=True)
    code, _ = run_json(_repo(tmp_path, "writer"), "--remote-cache", url)
    assert code == 0
    for blob in (data / "cache" / "cas").iterdir():
        blob.write_bytes(b"garbage" + blob.read_bytes())
    reader = _repo(tmp_path, "reader")
    done = run_json(reader, "--remote-cache", url)
    code, report = done
    assert code == 0
    assert cached_from(report) == {"build": None, "check": None}


def test_an_unreachable_remote_is_a_warning(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "repo")
    url = f"http://127.0.0.1:{free_port()}/nothing-listens-here"
    from ..conftest import lockgate

    done = lockgate("run", "--remote-cache", url, cwd=repo)
    assert done.returncode == 0, done.stderr
    shown = done.stdout + done.stderr
    assert "remote cache" in shown and "going on without it" in shown, shown


def test_a_remote_that_never_answers_times_out_into_a_miss(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept_and_stall() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)  # never answered

    threading.Thread(target=accept_and_stall, daemon=True).start()
    port = listener.getsockname()[1]
    repo = make_repo(
        tmp_path / "repo",
        {
            ".github/workflows/ci.yml": WORKFLOW,
            "app.txt": "app\n",
            "lockgate.yml": f"cache:\n  remote: http://127.0.0.1:{port}/c\n  remote-timeout: 1\n",
        },
    )
    from ..conftest import lockgate

    done = lockgate("run", cwd=repo)
    listener.close()
    for conn in held:
        conn.close()
    assert done.returncode == 0, done.stderr
    shown = (done.stdout + done.stderr).lower()
    assert "timed out" in shown or "timeout" in shown, shown
    # One request timed out (the first job's lookup); after it the remote was left alone:
    # the second job neither looked up nor saved there.
    assert len(held) == 1, f"{len(held)} connections to a remote that never answers"
