"""The built-in actions take the inputs of the releases they stand in for: each one lockgate acts
on does what it does on GitHub, and a step is told about the others."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import git, jobs_by_key, lockgate, make_repo

CHECKOUT = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    outputs:
      commit: ${{ steps.co.outputs.commit }}
      ref: ${{ steps.co.outputs.ref }}
      old: ${{ steps.old.outputs.commit }}
    steps:
      - id: co
        uses: actions/checkout@v4
        with:
          fetch-depth: 0
          persist-credentials: false
          lfs: true
          shallow: yes
      - id: old
        uses: actions/checkout@v4
        with:
          ref: first
          path: old
      - run: |
          echo "now=$(cat version.txt) then=$(cat old/version.txt)"
          test ! -e old/untracked.txt
"""


def test_checkout_names_its_commit_and_checks_out_any_ref(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"version.txt": "1\n"})
    git(repo, "tag", "first")
    (repo / "version.txt").write_text("2\n")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text(CHECKOUT)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second")
    (repo / "untracked.txt").write_text("the run's own change\n")
    head = git(repo, "rev-parse", "HEAD").strip()
    first = git(repo, "rev-parse", "first^{commit}").strip()
    done = lockgate("run", "--no-cache", "-o", "json", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = jobs_by_key(json.loads(done.stdout))["t"]["outputs"]
    assert outputs == {"commit": head, "ref": "refs/heads/main", "old": first}
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "now=2 then=1" in logs
    # GitHub's warning for an input the action lacks; a notice for one lockgate ignores;
    # nothing for fetch-depth and persist-credentials, which it honours in effect.
    assert "Unexpected input(s) 'shallow', valid inputs are ['repository', 'ref'," in logs
    assert "input 'lfs' is ignored here: LFS files are as the working tree has them" in logs
    assert "input 'fetch-depth'" not in logs and "input 'persist-credentials'" not in logs


def test_checkout_of_another_repository_or_an_unknown_ref_fails_saying_so(
    tmp_path: Path,
) -> None:
    wf = """
on: push
jobs:
  other:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {repository: someone/else}
  missing:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {ref: no-such-branch}
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": wf})
    done = lockgate("run", "--no-cache", cwd=repo)
    assert done.returncode == 1
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "repository 'someone/else' is not this run's (local/repo)" in logs
    assert "ref 'no-such-branch' is not a commit, branch or tag of this repository" in logs


ARTIFACTS = """
on: push
jobs:
  make:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        part: [a, b]
    steps:
      - run: |
          mkdir -p out/.hidden
          echo ${{ matrix.part }} > out/${{ matrix.part }}.txt
          echo secret > out/.env
          echo cache > out/.hidden/kept.txt
      - uses: actions/upload-artifact@v4
        with: {name: "part-${{ matrix.part }}", path: out/}
      - uses: actions/upload-artifact@v4
        with: {name: "all-${{ matrix.part }}", path: out/, include-hidden-files: true}
      - id: again
        continue-on-error: true
        uses: actions/upload-artifact@v4
        with: {name: "part-${{ matrix.part }}", path: out/}
      - uses: actions/upload-artifact@v4
        with: {name: "part-${{ matrix.part }}", path: "out/*.txt", overwrite: true}
      - run: echo "again=${{ steps.again.outcome }}"
  use:
    needs: make
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with: {pattern: "part-*", path: merged, merge-multiple: true}
      - uses: actions/download-artifact@v4
        with: {pattern: "all-*", path: each}
      - run: |
          echo "merged=$(cd merged && find . -type f | sort | tr '\\n' ' ')"
          echo "each=$(cd each && find . -type f | sort | tr '\\n' ' ')"
"""


def test_artifacts_leave_hidden_files_out_overwrite_and_download_by_pattern(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": ARTIFACTS})
    done = lockgate("run", "--no-cache", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "again=failure" in logs and "set `overwrite: true` to replace it" in logs
    assert "merged=./a.txt ./b.txt " in logs
    expected = [f"./all-{p}/{f}" for p in "ab" for f in (".env", ".hidden/kept.txt", f"{p}.txt")]
    assert f"each={' '.join(expected)} " in logs
    listed = lockgate("show", "1", "-o", "json", cwd=repo)
    names = [a["name"] for a in json.loads(listed.stdout)["artifacts"]]
    assert sorted(names) == ["all-a", "all-b", "part-a", "part-b"]  # overwritten, not doubled


CACHE = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - id: look
        uses: actions/cache@v4
        with: {path: built, key: "k-${{ github.run_number }}", restore-keys: "k-", lookup-only: true}
      - run: |
          echo "hit=${{ steps.look.outputs.cache-hit }} restored=$(test -e built && echo yes || echo no)"
          mkdir -p built && echo x > built/x
      - id: must
        continue-on-error: true
        uses: actions/cache@v4
        with: {path: nothing, key: never-saved, fail-on-cache-miss: true}
      - run: echo "must=${{ steps.must.outcome }}"
"""


def test_cache_lookup_only_and_fail_on_cache_miss(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": CACHE})
    first = lockgate("run", "--no-cache", cwd=repo)
    assert first.returncode == 0, first.stdout + first.stderr
    second = lockgate("run", "--no-cache", cwd=repo)
    assert second.returncode == 0, second.stdout + second.stderr
    logs = lockgate("logs", "2", cwd=repo).stdout
    assert "hit=false restored=no" in logs  # found by restore-keys, and not restored
    assert "cache found from key: k-" in logs
    assert "no cache entry for key 'never-saved'" in logs and "must=failure" in logs


def test_setup_node_writes_the_registry_and_scope_npm_reads(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-node@v4
        with: {registry-url: "https://npm.example.com/api", scope: octo}
      - run: |
          cat "$NPM_CONFIG_USERCONFIG"
          echo "token=$NODE_AUTH_TOKEN"
          npm config get @octo:registry
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": wf})
    done = lockgate("run", "--no-cache", cwd=repo, env={"NODE_AUTH_TOKEN": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "@octo:registry=https://npm.example.com/api/" in logs
    assert "//npm.example.com/api/:_authToken=${NODE_AUTH_TOKEN}" in logs
    assert "token=XXXXX-XXXXX-XXXXX-XXXXX" in logs
    assert logs.count("https://npm.example.com/api/") >= 2  # npm itself reads it
