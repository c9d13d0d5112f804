"""`uses: owner/repo[/path]@ref` from a git server: a file:// tree and `git daemon` on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.actions.remote import Reference, RemoteActionError, RemoteActions
from lockgate.common.gitinfo import git_said
from lockgate.common.ports import free_port

from ..conftest import git, jobs_by_key, lockgate, make_repo, need, wait_listening

pytestmark = pytest.mark.integration

COMPOSITE = """
name: greet
inputs:
  who: {default: world}
outputs:
  greeting: {value: "${{ steps.g.outputs.greeting }}"}
runs:
  using: composite
  steps:
    - id: g
      shell: bash
      env: {WHO: "${{ inputs.who }}"}
      run: echo "greeting=hello $WHO from $GITHUB_ACTION_PATH" >> "$GITHUB_OUTPUT"
"""
JAVASCRIPT = """
name: js
inputs:
  who: {required: true}
outputs:
  said: {description: what it said}
runs:
  using: node20
  main: dist/index.js
  post: dist/post.js
"""
INDEX = """
const fs = require('fs');
const who = process.env['INPUT_WHO'];
fs.appendFileSync(process.env.GITHUB_OUTPUT, `said=hi ${who} on node ${process.version}\\n`);
fs.appendFileSync(process.env.GITHUB_STATE, `who=${who}\\n`);
"""
POST = "console.log(`post step saw ${process.env.STATE_who}`);\n"

WORKFLOW = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.c.outputs.greeting }}
      said: ${{ steps.j.outputs.said }}
    steps:
      - id: c
        uses: acme/actions@v1
        with: {who: lockgate}
      - id: j
        uses: acme/actions/js@SHA
        with: {who: node}
"""


def _server_tree(root: Path) -> str:
    """acme/actions: a composite action at the root, a JavaScript one under js/; returns sha."""
    repo = root / "acme" / "actions"
    files = {
        "action.yml": COMPOSITE,
        "js/action.yml": JAVASCRIPT,
        "js/dist/index.js": INDEX,
        "js/dist/post.js": POST,
    }
    make_repo(repo, files)
    git(repo, "tag", "v1")
    return git(repo, "rev-parse", "HEAD")


def _run(repo: Path, url: str, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    done = lockgate("run", "--no-cache", "-o", "json", "--github-url", url, *extra, cwd=repo)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


def test_actions_from_a_file_tree_run_and_are_cached_by_commit(
    tmp_path: Path, tool_cache: Path
) -> None:
    sha = _server_tree(tmp_path / "srv")
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": WORKFLOW.replace("SHA", sha)})
    url = f"file://{tmp_path / 'srv'}"
    code, report = _run(repo, url)
    assert code == 0, report
    outputs = jobs_by_key(report)["t"]["outputs"]
    assert outputs["greeting"].startswith("hello lockgate from ")
    assert outputs["said"].startswith("hi node on node v20.")
    logs = lockgate("logs", str(report["runs"][0]["run_id"]), cwd=repo).stdout
    assert "post step saw node" in logs
    assert (tool_cache / "actions" / "acme" / "actions" / sha).is_dir()
    # Offline, and with the server gone: the pinned sha and the remembered tag still resolve.
    shutil.rmtree(tmp_path / "srv")
    code, report = _run(repo, url, "--offline")
    assert code == 0, report


def test_offline_without_cache_is_a_clear_failure(tmp_path: Path) -> None:
    _server_tree(tmp_path / "srv")
    repo = make_repo(
        tmp_path / "repo",
        {".github/workflows/ci.yml": WORKFLOW.replace("acme/actions@v1", "acme/actions@v9")},
    )
    code, report = _run(repo, f"file://{tmp_path / 'srv'}", "--offline")
    assert code == 1
    logs = lockgate("logs", str(report["runs"][0]["run_id"]), cwd=repo).stdout
    assert "never resolved here and --offline forbids asking the server" in logs


def test_an_unknown_ref_names_the_server(tmp_path: Path) -> None:
    _server_tree(tmp_path / "srv")
    repo = make_repo(
        tmp_path / "repo",
        {".github/workflows/ci.yml": WORKFLOW.replace("acme/actions@v1", "acme/actions@nope")},
    )
    code, report = _run(repo, f"file://{tmp_path / 'srv'}")
    assert code == 1
    logs = lockgate("logs", str(report["runs"][0]["run_id"]), cwd=repo).stdout
    assert "has no branch or tag 'nope'" in logs


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`git daemon` serving the acme/actions tree on 127.0.0.1: (URL, the tree's sha)."""
    need(shutil.which("git") is not None, "git is not installed")
    sha = _server_tree(tmp_path / "srv")
    port = free_port()
    server = subprocess.Popen(
        [
            "git",
            "daemon",
            f"--base-path={tmp_path / 'srv'}",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(tmp_path / "srv"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listening(port, server, "git daemon")
    yield f"git://127.0.0.1:{port}", sha
    server.terminate()
    server.wait()


def test_actions_from_a_git_daemon(tmp_path: Path, git_daemon: tuple[str, str]) -> None:
    url, sha = git_daemon
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": WORKFLOW.replace("SHA", sha)})
    code, report = _run(repo, url)
    assert code == 0, report
    assert jobs_by_key(report)["t"]["outputs"]["greeting"].startswith("hello lockgate")


@pytest.mark.parametrize(
    "uses",
    ["acme/..@v1", "../x/y@v1", "acme/repo@-upload-pack=evil", "acme/repo/../../x@v1", "acme@v1"],
)
def test_hostile_references_are_refused(uses: str) -> None:
    with pytest.raises(RemoteActionError):
        Reference.parse(uses)


def test_a_remote_reusable_workflow_runs(tmp_path: Path) -> None:
    called = """
on:
  workflow_call:
    inputs:
      who: {type: string, required: true}
    outputs:
      said: {value: "${{ jobs.inner.outputs.said }}"}
jobs:
  inner:
    runs-on: ubuntu-latest
    outputs:
      said: ${{ steps.s.outputs.said }}
    steps:
      - id: s
        run: echo "said=hello ${{ inputs.who }}" >> "$GITHUB_OUTPUT"
"""
    server = tmp_path / "srv" / "acme" / "workflows"
    make_repo(server, {".github/workflows/greet.yml": called})
    git(server, "tag", "v1")
    wf = """
on: push
jobs:
  call:
    uses: acme/workflows/.github/workflows/greet.yml@v1
    with: {who: remote}
  show:
    needs: call
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.call.outputs.said }}"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": wf})
    code, report = _run(repo, f"file://{tmp_path / 'srv'}")
    assert code == 0, report
    logs = lockgate("logs", str(report["runs"][0]["run_id"]), cwd=repo).stdout
    assert "hello remote" in logs


TOOLKIT_ACTION = """
name: toolkit
inputs:
  who: {required: true}
outputs:
  said: {description: greeting}
runs:
  using: node20
  main: main.js
  post: post.js
"""
TOOLKIT_MAIN = """
const core = require('@actions/core');
const who = core.getInput('who', {required: true});
core.setOutput('said', `hi ${who}`);
core.exportVariable('FROM_TOOLKIT', 'exported');
core.addPath('/opt/toolkit-bin');
core.saveState('who', who);
core.warning('a warning from the toolkit');
"""
TOOLKIT_POST = (
    "require('@actions/core').info(`post saw ${require('@actions/core').getState('who')}`);\n"
)


def test_a_javascript_action_built_on_the_real_actions_toolkit(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    need(npm is not None, "npm is not installed")
    server = tmp_path / "srv" / "acme" / "toolkit"
    files = {"action.yml": TOOLKIT_ACTION, "main.js": TOOLKIT_MAIN, "post.js": TOOLKIT_POST}
    make_repo(server, files, commit=False)
    installed = subprocess.run(
        [
            str(npm),
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(server),
            "@actions/core@1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    need(
        installed.returncode == 0, f"npm could not install @actions/core: {installed.stderr[-200:]}"
    )
    git(server, "add", "-A")
    git(server, "commit", "-qm", "toolkit action")
    git(server, "tag", "v1")
    wf = """
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    outputs:
      said: ${{ steps.k.outputs.said }}
    steps:
      - id: k
        uses: acme/toolkit@v1
        with: {who: toolkit}
      - run: |
          test "$FROM_TOOLKIT" = exported
          case ":$PATH:" in *:/opt/toolkit-bin:*) ;; *) exit 1;; esac
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": wf})
    code, report = _run(repo, f"file://{tmp_path / 'srv'}")
    assert code == 0, report
    assert jobs_by_key(report)["t"]["outputs"]["said"] == "hi toolkit"
    run_id = str(report["runs"][0]["run_id"])
    logs = lockgate("logs", run_id, cwd=repo).stdout
    assert "post saw toolkit" in logs
    shown = lockgate("show", run_id, cwd=repo).stdout
    assert "a warning from the toolkit" in shown


def test_a_failed_fetch_says_all_git_said(tmp_path: Path) -> None:
    """Git's last line alone ("... and the repository exists.") hides why; all of it is kept,
    without a URL's credentials."""
    actions = RemoteActions(f"file://{tmp_path}/none", offline=False)
    with pytest.raises(RemoteActionError) as raised:
        actions.directory("acme/missing@v1")
    said = str(raised.value)
    assert "does not appear to be a git repository" in said and "repository exists" in said
    assert git_said("fatal: https://me:hunter2@example.com/x not found\n", 128) == (
        "fatal: https://***@example.com/x not found"
    )
