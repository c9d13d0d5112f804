"""Public repositories' own CI, unchanged, run by `lockgate run` against the same commands run
directly, in one sitting.

For each repository (a clone you provide under --root, named OWNER+NAME): lockgate runs the
selected job twice from a clean state (no job cache), and the job's test command runs once
directly in a fresh copy with the same interpreter first on PATH, as a developer would run
it. Reported: whether both lockgate runs were green, and lockgate's wall time over the
direct one (target: at most 1.05). The direct command is what the job's `run:` step executes
for that matrix entry.

Usage: python benchmarks/real_repos.py --root DIR [--only NAME ...]
Clone them first, e.g.: git clone https://github.com/pallets/markupsafe DIR/pallets+markupsafe
(and pypa/packaging.python.org, whose publishing workflow runs on pypa/sampleproject).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import LOCKGATE, warm_server

from lockgate.actions.node import NodeToolchains
from lockgate.actions.setup_python import choose, installed
from lockgate.actions.setup_uv import install as install_uv


@dataclass(frozen=True)
class Trial:
    name: str  # OWNER+NAME, the clone's directory under --root
    select: tuple[str, ...]  # lockgate run arguments choosing the job
    direct: str  # the job's commands for that matrix entry, run by bash
    python: str = "3.12"  # put first on PATH for the direct run (what setup-python gives)
    node: str = ""  # likewise a Node.js major (what setup-node gives), from lockgate's tool cache
    workflow: str = ""  # a workflow of another clone under --root, run on this one (-W)


UV_TOX = "uv run --locked tox run -e py3.12"
TRIALS = [
    Trial("pallets+markupsafe", ("-j", "tests", "--matrix", "python:3.12"), UV_TOX),
    Trial("pallets+itsdangerous", ("-j", "tests", "--matrix", "python:3.12"), UV_TOX),
    Trial("pallets+click", ("-j", "tests", "--matrix", "python:3.12"), UV_TOX),
    Trial("pallets+jinja", ("-j", "tests", "--matrix", "python:3.12"), UV_TOX),
    Trial("pallets+flask", ("-j", "tests", "--matrix", "python:3.12"), UV_TOX),
    Trial("pallets-eco+blinker", ("-j", "tests", "--matrix", "python:3.12"), UV_TOX),
    Trial(
        "more-itertools+more-itertools",
        ("-j", "build", "--matrix", "python-version:3.12"),
        "make coverage",
    ),
    # The packaging guide's publishing workflow (`pip install build --user` after setup-python),
    # unchanged, on the guide's sample project.
    Trial(
        "pypa+sampleproject",
        ("-j", "build"),
        "python3 -m pip install build && python3 -m build",
        python="3.13",
        workflow="pypa+packaging.python.org/source/guides/github-actions-ci-cd-sample/"
        "publish-to-pypi.yml",
    ),
    Trial(
        "jshttp+mime-types",
        ("-j", "test", "--matrix", "node-version:22"),
        "npm install && npm run test-ci",
        node="22",
    ),
]


def _interpreter(version: str) -> str:
    """The same interpreter setup-python picks for this version."""
    found = choose(version, installed(), prereleases=False)
    if found is None:
        raise SystemExit(f"no Python {version} installed")
    return found.executable


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".lockgate"))
    return target


def run_lockgate(repo: Path, select: tuple[str, ...]) -> tuple[bool, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(LOCKGATE), "run", *select, "--no-cache", "-o", "json"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    ok = done.returncode == 0 and json.loads(done.stdout or "{}").get("conclusion") == "success"
    return ok, elapsed


def run_direct(repo: Path, trial: Trial) -> tuple[bool, float]:
    venv = repo.parent / "direct-venv"
    python = _interpreter(trial.python)
    subprocess.run([python, "-m", "venv", str(venv)], check=True, capture_output=True)
    # What setup-python, setup-uv and setup-node give a job: a venv, the interpreter, uv, node.
    first = [
        str(venv / "bin"),
        str(Path(python).parent),
        str(install_uv("latest", offline=False)[1]),
    ]
    if trial.node:
        first.insert(0, str(NodeToolchains(offline=False).bin_dir(trial.node)[1]))
    env = {**os.environ, "PATH": os.pathsep.join([*first, os.environ["PATH"]]), "CI": "true"}
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", "-e", "-c", trial.direct], cwd=repo, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        print(f"  direct run failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return done.returncode == 0, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--only", nargs="*", default=[])
    args = parser.parse_args()
    warm_server()
    rows = []
    for trial in TRIALS:
        if args.only and trial.name not in args.only:
            continue
        source = args.root / trial.name
        if not source.is_dir():
            print(f"{trial.name}: not cloned under {args.root}, skipped")
            continue
        with tempfile.TemporaryDirectory() as scratch:
            select = trial.select
            if trial.workflow:
                select = ("-W", str(args.root / trial.workflow), *select)
            runs = [run_lockgate(_copy(source, Path(scratch) / f"l{i}"), select) for i in (1, 2)]
            direct_ok, direct = run_direct(_copy(source, Path(scratch) / "d"), trial)
        green = all(ok for ok, _ in runs)
        best = min(t for _, t in runs)
        ratio = best / direct if direct_ok else float("nan")
        rows.append((trial.name, green, best, direct, direct_ok, ratio))
        print(
            f"{trial.name}: lockgate {'green twice' if green else 'NOT green'} "
            f"({runs[0][1]:.1f}s, {runs[1][1]:.1f}s); direct {direct:.1f}s "
            f"{'ok' if direct_ok else 'FAILED'}; ratio {ratio:.3f}"
        )
    green = sum(1 for r in rows if r[1])
    ratios = sorted(r[5] for r in rows if r[4])
    median = ratios[len(ratios) // 2] if ratios else float("nan")
    print(f"\n{green}/{len(rows)} green twice; median ratio lockgate/direct {median:.3f}")


if __name__ == "__main__":
    main()
