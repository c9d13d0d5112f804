"""`uses:`: composite and JavaScript actions, built-ins, reusable workflows, remote actions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ..conftest import jobs_by_key, lockgate, make_repo, need, run_json

pytestmark = pytest.mark.integration

INNER = """
name: inner
inputs:
  who:
    default: inner-default
outputs:
  shout:
    value: ${{ steps.s.outputs.loud }}
runs:
  using: composite
  steps:
    - id: s
      shell: bash
      run: echo "loud=HELLO ${{ inputs.who }}" >> "$GITHUB_OUTPUT"
"""

OUTER = """
name: outer
inputs:
  name:
    required: true
outputs:
  result:
    value: ${{ steps.nested.outputs.shout }}
runs:
  using: composite
  steps:
    - id: nested
      uses: ./.github/actions/inner
      with:
        who: ${{ inputs.name }}
    - shell: bash
      run: echo "action path is $GITHUB_ACTION_PATH"
"""

NODE = """
name: node-action
inputs:
  greeting:
    default: hi
runs:
  using: node20
  pre: pre.js
  main: main.js
  post: post.js
"""

MAIN_JS = """
const fs = require('fs');
fs.appendFileSync(process.env.GITHUB_OUTPUT, `said=${process.env.INPUT_GREETING} there\\n`);
fs.appendFileSync(process.env.GITHUB_STATE, `token=abc123\\n`);
console.log('main ran');
"""

WORKFLOW = """
on: push
jobs:
  use:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: composite
        uses: ./.github/actions/outer
        with:
          name: world
      - run: echo "composite said ${{ steps.composite.outputs.result }}"
      - id: js
        uses: ./.github/actions/node
        with:
          greeting: howdy
      - run: echo "node said ${{ steps.js.outputs.said }}"
"""


def test_nested_composite_and_javascript_actions(tmp_path: Path) -> None:
    need(shutil.which("node") is not None, "node is not installed")
    repo = make_repo(
        tmp_path / "repo",
        {
            ".github/workflows/a.yml": WORKFLOW,
            ".github/actions/inner/action.yml": INNER,
            ".github/actions/outer/action.yml": OUTER,
            ".github/actions/node/action.yml": NODE,
            ".github/actions/node/pre.js": "console.log('pre ran');\n",
            ".github/actions/node/main.js": MAIN_JS,
            ".github/actions/node/post.js": "console.log('post saw ' + process.env.STATE_token);\n",
        },
    )
    code, report = run_json(repo)
    assert code == 0, report
    names = [s["name"] for s in jobs_by_key(report)["use"]["steps"]]
    assert names[-1].startswith("Post ")
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "composite said HELLO world" in logs
    assert "action path is " in logs and ".github/actions/outer" in logs
    assert "pre ran" in logs and "main ran" in logs
    assert "node said howdy there" in logs
    assert "post saw abc123" in logs


def test_remote_action_fails_naming_how_to_map_it(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  remote:
    runs-on: ubuntu-latest
    steps:
      - uses: someone/thing@v1
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/r.yml": wf})
    code, _ = run_json(repo)
    assert code == 1
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "--action-path someone/thing@v1=DIR" in logs
    local = tmp_path / "thing"
    local.mkdir()
    (local / "action.yml").write_text(
        "name: t\nruns:\n  using: composite\n  steps:\n    - shell: sh\n      run: echo mapped\n"
    )
    code, _ = run_json(repo, "--action-path", f"someone/thing@v1={local}")
    assert code == 0
    assert "mapped" in lockgate("logs", "2", cwd=repo).stdout


def test_builtin_setup_python_cache_and_artifacts(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  produce:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        id: py
        with:
          python-version: "3.11"
      - run: python --version && echo "py=${{ steps.py.outputs.python-version }}"
      - uses: actions/cache@v4
        id: cache
        with:
          path: cached-dir
          key: deps-${{ hashFiles('lock.txt') }}
      - run: |
          echo "hit=${{ steps.cache.outputs.cache-hit }}"
          mkdir -p cached-dir out && echo payload > cached-dir/file && echo built > out/result.txt
      - uses: actions/upload-artifact@v4
        with:
          name: result
          path: out/result.txt
  consume:
    needs: produce
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: result
      - run: cat result.txt
  wrong-python:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v5
        with:
          python-version: "2.1"
"""
    need(shutil.which("python3.11") is not None, "python3.11 is not installed")
    repo = make_repo(tmp_path / "repo", {".github/workflows/b.yml": wf, "lock.txt": "v1"})
    code, report = run_json(repo)
    jobs = jobs_by_key(report)
    assert jobs["produce"]["conclusion"] == "success"
    assert jobs["consume"]["conclusion"] == "success"
    assert jobs["wrong-python"]["conclusion"] == "failure" and code == 1
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "Python 3.11" in logs and "py=3.11" in logs
    assert "hit=false" in logs and "built" in logs
    assert "no installed Python matches python-version '2.1'" in logs
    code, _ = run_json(repo, "-j", "produce", "--no-cache")  # run it again, not from the job cache
    assert "hit=true" in lockgate("logs", "2", cwd=repo).stdout


def test_reusable_workflow_with_inputs_secrets_and_outputs(tmp_path: Path) -> None:
    called = """
on:
  workflow_call:
    inputs:
      target:
        type: string
        required: true
      times:
        type: number
        default: 2
    secrets:
      key:
        required: true
    outputs:
      report:
        value: ${{ jobs.work.outputs.line }}
jobs:
  work:
    runs-on: ubuntu-latest
    outputs:
      line: ${{ steps.w.outputs.line }}
    steps:
      - id: w
        run: |
          echo "deploying ${{ inputs.target }} x${{ inputs.times }} with ${{ secrets.key }}"
          echo "line=done-${{ inputs.target }}" >> "$GITHUB_OUTPUT"
"""
    caller = """
on: push
jobs:
  call:
    uses: ./.github/workflows/called.yml
    with:
      target: staging
    secrets:
      key: ${{ secrets.DEPLOY_KEY }}
  after:
    needs: call
    runs-on: ubuntu-latest
    steps:
      - run: echo "caller got ${{ needs.call.outputs.report }}"
"""
    repo = make_repo(
        tmp_path / "repo",
        {
            ".github/workflows/caller.yml": caller,
            ".github/workflows/called.yml": called,
        },
    )
    code, report = run_json(repo, "-s", "DEPLOY_KEY=k-123")
    assert code == 0, report
    assert set(jobs_by_key(report)) == {"call / work", "after"}
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "deploying staging x2 with ***" in logs
    assert "caller got done-staging" in logs


def test_services_fail_clearly_and_container_runs_on_host(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  db:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:16
    steps:
      - run: echo never
  boxed:
    runs-on: ubuntu-latest
    container: python:3.11
    steps:
      - run: echo ran-on-host
  maybe:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        image: ["", "node:20"]
    container: {image: "${{ matrix.image }}"}
    steps:
      - run: echo "leg '${{ matrix.image }}'"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/s.yml": wf})
    done = lockgate("run", cwd=repo)
    assert done.returncode == 1
    assert "need a container engine" in done.stdout
    assert "boxed: no container engine works here" in done.stdout
    assert "ran-on-host" in done.stdout
    # an empty image is no container, as on GitHub: no warning for that leg
    warned = [line for line in done.stdout.splitlines() if "running the `container:`" in line]
    assert len(warned) == 2 and any("node:20" in line for line in warned), warned


def test_cache_of_home_and_absolute_paths_round_trips(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    wf = f"""
on: push
jobs:
  c:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/cache@v4
        id: cache
        with:
          path: |
            ~/.lockgate-test-cache
            {outside}
          key: k1
      - run: |
          echo "hit=${{{{ steps.cache.outputs.cache-hit }}}}"
          mkdir -p ~/.lockgate-test-cache {outside}
          echo home-data > ~/.lockgate-test-cache/f
          echo abs-data > {outside}/g
"""
    home = tmp_path / "home"
    home.mkdir()
    repo = make_repo(tmp_path / "repo", {".github/workflows/c.yml": wf})
    env = {"HOME": str(home)}
    assert lockgate("run", "--no-cache", cwd=repo, env=env).returncode == 0
    (home / ".lockgate-test-cache" / "f").unlink()
    (outside / "g").unlink()
    second = lockgate("run", "--no-cache", cwd=repo, env=env)
    assert second.returncode == 0, second.stderr
    assert "hit=true" in lockgate("logs", "2", cwd=repo, env=env).stdout
    assert (home / ".lockgate-test-cache" / "f").read_text() == "home-data\n"
    assert (outside / "g").read_text() == "abs-data\n"
    assert not list(repo.glob("**/.lockgate-test-cache"))  # nothing landed in the workspace


COMPOSITE_ENV_ACTION = """
name: env-check
inputs:
  some: {required: true}
  other: {default: "${{ inputs.some }}-derived"}
outputs:
  seen: {value: "${{ env.CALLER }}/${{ inputs.other }}/${{ steps.s.outputs.v }}"}
runs:
  using: composite
  steps:
    - id: s
      shell: bash
      env: {OWN: inner}
      run: |
        echo "v=$CALLER-$OWN-$INPUT_SOME" >> "$GITHUB_OUTPUT"
        echo "FROM_ACTION=yes" >> "$GITHUB_ENV"
"""


def test_composite_actions_see_the_callers_env_and_derived_inputs(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  c:
    runs-on: ubuntu-latest
    outputs:
      seen: ${{ steps.a.outputs.seen }}
    steps:
      - uses: actions/checkout@v4
      - id: a
        uses: ./act
        env: {CALLER: from-caller}
        with: {some: given}
      - run: |
          test "$FROM_ACTION" = yes
          test -z "$CALLER" && test -z "$OWN"
"""
    repo = make_repo(
        tmp_path / "repo", {".github/workflows/c.yml": wf, "act/action.yml": COMPOSITE_ENV_ACTION}
    )
    code, report = run_json(repo)
    assert code == 0, report
    # GitHub gives composite actions no INPUT_ variables: $INPUT_SOME is empty inside.
    assert (
        jobs_by_key(report)["c"]["outputs"]["seen"]
        == "from-caller/given-derived/from-caller-inner-"
    )


def test_unsecure_commands_only_when_allowed(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  c:
    runs-on: ubuntu-latest
    steps:
      - run: echo "::set-env name=OLD::style"
        env: {ACTIONS_ALLOW_UNSECURE_COMMANDS: "true"}
      - run: echo "::add-path::/opt/old-style"
        env: {ACTIONS_ALLOW_UNSECURE_COMMANDS: "true"}
      - run: |
          test "$OLD" = style
          case ":$PATH:" in *:/opt/old-style:*) ;; *) exit 1;; esac
      - run: echo "::set-env name=BLOCKED::yes"
      - run: test -z "$BLOCKED"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/c.yml": wf})
    code, report = run_json(repo)
    assert code == 0, report
    assert "the `set-env` command is disabled" in lockgate("logs", "1", cwd=repo).stdout


def test_local_actions_come_from_the_workspace(tmp_path: Path) -> None:
    wf = """
on: push
jobs:
  early:
    runs-on: ubuntu-latest
    steps:
      - uses: ./act
        with: {some: x}
  made-in-the-job:
    runs-on: ubuntu-latest
    steps:
      - shell: cp {0} action.yml
        run: |
          runs:
            using: composite
            steps:
              - {shell: bash, run: echo made-here}
      - uses: ./
"""
    repo = make_repo(
        tmp_path / "repo", {".github/workflows/c.yml": wf, "act/action.yml": COMPOSITE_ENV_ACTION}
    )
    code, report = run_json(repo)
    jobs = jobs_by_key(report)
    assert jobs["early"]["conclusion"] == "failure" and code == 1
    assert jobs["made-in-the-job"]["conclusion"] == "success"
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "run actions/checkout before using a local action" in logs
    assert "made-here" in logs


def test_sudo_works_as_on_githubs_runners(tmp_path: Path) -> None:
    """GitHub's runners have passwordless sudo; steps call it (`sudo apt-get ...`). Running
    as root on a host without sudo, lockgate's stand-in runs the command as root."""
    wf = """
on: push
jobs:
  s:
    runs-on: ubuntu-latest
    steps:
      - run: |
          sudo -E sh -c 'echo "as uid $(id -u)"'
          sudo DEBIAN_FRONTEND=noninteractive sh -c 'echo "env $DEBIAN_FRONTEND"'
          sudo -n -u root -- true && echo "as root: fine"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/s.yml": wf})
    done = lockgate("run", cwd=repo)
    assert done.returncode == 0, done.stdout
    for said in ("as uid 0", "env noninteractive", "as root: fine"):
        assert said in done.stdout, done.stdout


FAILING_COMPOSITE = """
outputs:
  color:
    value: ${{ steps.pick.outputs.color }}
runs:
  using: composite
  steps:
    - id: pick
      shell: bash
      run: echo "color=green" >> "$GITHUB_OUTPUT"
    - shell: bash
      run: exit 1
    - shell: bash
      run: echo "after the failure inside"
    - if: failure()
      shell: bash
      run: echo "the action's own failure() is true"
"""


def test_a_failing_composite_answers_to_its_callers_continue_on_error(tmp_path: Path) -> None:
    """act's composite-fail-with-output scenario: the action's failed step fails the action's
    step, which continue-on-error excuses; the job goes on, with the action's outputs."""
    wf = """
on: push
jobs:
  c:
    runs-on: ubuntu-latest
    outputs:
      color: ${{ steps.a.outputs.color }}
      outcome: ${{ steps.a.outcome }}
    steps:
      - uses: actions/checkout@v4
      - id: a
        uses: ./act
        continue-on-error: true
      - run: echo "went on"
"""
    repo = make_repo(
        tmp_path / "repo", {".github/workflows/c.yml": wf, "act/action.yml": FAILING_COMPOSITE}
    )
    code, report = run_json(repo)
    assert code == 0, report
    assert jobs_by_key(report)["c"]["outputs"] == {"color": "green", "outcome": "failure"}
    logs = lockgate("logs", "1", cwd=repo).stdout
    assert "went on" in logs and "the action's own failure() is true" in logs
    assert "after the failure inside" not in logs


def test_insert_and_expression_keys_in_env_and_matrix(tmp_path: Path) -> None:
    """GitHub's `${{ insert }}` directive (its parser cases insert.yml; act's
    evalmatrix-merge-map scenario), and a matrix key that is an expression (evalmatrixneeds2)."""
    wf = """
on: push
env:
  ${{ insert }}: ${{ fromJSON('{"FROM_INSERT":"workflow"}') }}
jobs:
  i:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        a:
          - env:
              key1: val1
              ${{ insert }}: ${{ fromJSON('{"key2":"val2"}') }}
        ${{ format('{0}xis', 'a') }}: [computed]
    steps:
      - env:
          OWN: step
          ${{ insert }}: ${{ matrix.a.env }}
        run: echo "got $FROM_INSERT $OWN $key1 $key2 ${{ matrix.axis }}"
"""
    repo = make_repo(tmp_path / "repo", {".github/workflows/c.yml": wf})
    code, report = run_json(repo)
    assert code == 0, report
    assert "got workflow step val1 val2 computed" in lockgate("logs", "1", cwd=repo).stdout
