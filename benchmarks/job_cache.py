"""The job cache on a 12-job pipeline, timed in one sitting (whole `lockgate run` processes):

1. cold run (empty cache);
2. rerun with no change (target: under 100 ms for the whole process), against the warm
   server's bare command (`lockgate version`) timed in the same sitting;
3. rerun after changing one source file (only the jobs whose inputs include it run);
4. rerun with the cache only on the remote (a local Bazel-protocol HTTP server, empty local cache).

Each figure is printed with its ratio to the cold run. Usage: python benchmarks/job_cache.py
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import IN_PROCESS, LOCKGATE, committed_repo, warm_server

PIPELINE = """
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: sleep 0.5; cat src/*.py > /dev/null
  types:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: sleep 1; cat src/*.py > /dev/null
  unit:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        part: [1, 2, 3, 4]
    steps:
      - uses: actions/checkout@v4
      - run: sleep 1; echo "part ${{ matrix.part }} of $(ls tests | wc -l) test files"
  build:
    needs: [lint, types, unit]
    runs-on: ubuntu-latest
    outputs:
      digest: ${{ steps.pack.outputs.digest }}
    steps:
      - uses: actions/checkout@v4
      - id: pack
        run: |
          sleep 0.5
          echo "digest=$(cat src/*.py pyproject.toml | sha256sum | cut -c1-16)" >> "$GITHUB_OUTPUT"
  integration:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        suite: [api, db]
    steps:
      - run: sleep 1.5; echo "${{ matrix.suite }} against ${{ needs.build.outputs.digest }}"
  package:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: sleep 0.5; echo "package ${{ needs.build.outputs.digest }}"
  audit:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: sleep 1; cat pyproject.toml > /dev/null
  docs:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: sleep 0.5; cat docs/*.md > /dev/null
"""

PROJECT = """
jobs:
  lint: {inputs: ["src/**", "pyproject.toml"]}
  types: {inputs: ["src/**", "pyproject.toml"]}
  unit: {inputs: ["src/**", "tests/**"]}
  build: {inputs: ["src/**", "pyproject.toml"]}
  integration: {inputs: ["tests/**"]}
  package: {inputs: ["pyproject.toml"]}
  audit: {inputs: ["pyproject.toml"]}
  docs: {inputs: ["docs/**"]}
"""


def make_repo(root: Path) -> Path:
    files = {
        ".github/workflows/ci.yml": PIPELINE,
        "lockgate.yml": PROJECT,
        "pyproject.toml": '[project]\nname = "sample"\nversion = "1.0"\n',
        "docs/guide.md": "# guide\n",
    }
    for i in range(40):
        files[f"src/module_{i}.py"] = f"def f{i}():\n    return {i}\n"
        files[f"tests/test_{i}.py"] = f"def test_{i}():\n    assert True\n"
    return committed_repo(root, files)


def timed_run(
    repo: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[float, list[str]]:
    """Wall time of the whole process, and the jobs that really ran (not restored)."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(LOCKGATE), "run", "--jobs", "4", "--output", "json", *extra],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"lockgate run failed:\n{done.stdout}\n{done.stderr}")
    report = json.loads(done.stdout)
    ran = [j["key"] for r in report["runs"] for j in r["jobs"] if j["cached_from"] is None]
    return elapsed, ran


def bare_command() -> float:
    """Wall time of the cheapest whole command through the warm server: the floor."""
    started = time.perf_counter()
    subprocess.run([str(LOCKGATE), "version"], capture_output=True, check=True)
    return time.perf_counter() - started


class CacheHandler(http.server.BaseHTTPRequestHandler):
    """GET/PUT of /ac/ and /cas/ blobs, kept in memory: a stand-in for a team's cache server."""

    blobs: dict[str, bytes] = {}

    def do_GET(self) -> None:
        body = self.blobs.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def do_PUT(self) -> None:
        self.blobs[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    warm_server()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CacheHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    remote = f"http://127.0.0.1:{server.server_address[1]}/bench"
    with tempfile.TemporaryDirectory(prefix="lockgate-cache-bench-") as tmp:
        repo = make_repo(Path(tmp) / "repo")
        cold, ran = timed_run(repo, "--remote-cache", remote)
        print(f"cold run:               {cold:6.2f}s  ({len(ran)} jobs ran)")
        warm = sorted(timed_run(repo)[0] for _ in range(21))
        bare = sorted(bare_command() for _ in range(21))
        ran = timed_run(repo)[1]
        print(
            f"rerun, no change:       {warm[10] * 1000:6.1f} ms median of 21 (best "
            f"{warm[0] * 1000:.1f}); jobs ran: {ran or 'none'}; target < 100 ms"
        )
        print(
            f"  bare command (`lockgate version`, warm server): {bare[10] * 1000:.1f} ms median; "
            f"rerun / bare = {warm[10] / bare[10]:.2f}"
        )
        alone = min(timed_run(repo, env=IN_PROCESS)[0] for _ in range(3))
        print(f"  the same without a server (LOCKGATE_DAEMON=0): {alone:.2f}s (best of 3)")
        (repo / "src" / "module_7.py").write_text("def f7():\n    return 'seven'\n")
        changed, ran = timed_run(repo)
        print(f"rerun, one file edited: {changed:6.2f}s  ratio {changed / cold:.3f}  (ran: {ran})")
        shutil.rmtree(repo / ".lockgate" / "cache")
        (repo / "src" / "module_7.py").write_text("def f7():\n    return 7\n")
        from_remote, ran = timed_run(repo, "--remote-cache", remote)
        print(
            f"rerun, remote cache:    {from_remote:6.2f}s  ratio {from_remote / cold:.3f}  "
            f"(jobs ran: {ran or 'none'})"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
