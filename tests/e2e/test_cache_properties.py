"""Property: after random edits to files, env and job definitions, exactly the jobs whose inputs
changed run again, and a cached run shows what an uncached run shows."""

from __future__ import annotations

import random
import re
import tempfile
from pathlib import Path

import pytest

from ..conftest import jobs_by_key, lockgate, make_repo, run_json

pytestmark = pytest.mark.integration

FILES = ("a/x.txt", "b/y.txt", "shared/z.txt", "other.txt")
PROJECT = """
jobs:
  ja: {inputs: ["a/**", "shared/**"]}
  jb: {inputs: ["b/**"]}
  jc: {inputs: ["shared/**"]}
"""


def workflow(mode: str, jb_text: str) -> str:
    return f"""
on: push
jobs:
  ja:
    runs-on: ubuntu-latest
    env:
      MODE: {mode}
    outputs:
      h: ${{{{ steps.s.outputs.h }}}}
    steps:
      - uses: actions/checkout@v4
      - id: s
        run: |
          echo "h=$(cat a/x.txt shared/z.txt | sha256sum | cut -c1-16)" >> "$GITHUB_OUTPUT"
          echo "mode $MODE greeting $GREETING"
  jb:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          echo "{jb_text} $(cat b/y.txt)"
          echo "## jb saw $(cat b/y.txt)" >> "$GITHUB_STEP_SUMMARY"
  jc:
    needs: ja
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{{{ needs.ja.outputs.h }}}} $(cat shared/z.txt)"
  jall:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: cat other.txt; echo "::notice::all files seen"
"""


def relevant(state: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """What each job's key depends on, as the test understands the pipeline."""
    files = tuple(state[f] for f in FILES)
    return {
        "ja": (state["a/x.txt"], state["shared/z.txt"], state["mode"], state["env"]),
        "jb": (state["b/y.txt"], state["jb_text"], state["env"]),
        # jc's key has ja's output, which is a hash of a/x.txt and shared/z.txt.
        "jc": (state["a/x.txt"], state["shared/z.txt"], state["env"]),
        # jall has the default inputs: every file, the workflow and lockgate.yml included.
        "jall": (*files, state["mode"], state["jb_text"], state["env"]),
    }


WORDS = ("alpha", "beta", "gamma", "delta")


def edits(seed: int) -> list[tuple[str, str, str]]:
    """3 or 4 random edits: of a file, of the env, or of a job's definition."""
    rng = random.Random(seed)
    kinds = {"file": FILES, "env": ("env",), "def": ("mode", "jb_text")}
    chosen = []
    for _ in range(rng.randint(3, 4)):
        kind = rng.choice(list(kinds))
        chosen.append((kind, rng.choice(kinds[kind]), rng.choice(WORDS)))
    return chosen


def observable(report: dict) -> dict:  # type: ignore[type-arg]
    return {
        key: (
            job["conclusion"],
            job["outputs"],
            job["summary"],
            [(s["name"], s["outcome"], s["conclusion"], s["outputs"]) for s in job["steps"]],
        )
        for key, job in jobs_by_key(report).items()
    }


def logs(repo: Path, run_id: int) -> dict[str, list[str]]:
    import json

    rows = json.loads(lockgate("logs", str(run_id), "-o", "json", cwd=repo).stdout)
    by_job: dict[str, list[str]] = {}
    for row in rows:
        # The checkout step names the job's own scratch directory: that differs on every run.
        line = re.sub(r"/\S*lockgate-run-\S*/workspace", "<workspace>", row["line"])
        by_job.setdefault(row["key"], []).append(line)
    return by_job


# Three random edit sequences, each a test of its own so that parallel workers share them.
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exactly_the_changed_jobs_run_again(seed: int) -> None:
    changes = edits(seed)
    with tempfile.TemporaryDirectory() as tmp:
        state = {f: "seed" for f in FILES} | {"mode": "m0", "jb_text": "t0", "env": "e0"}
        repo = make_repo(
            Path(tmp) / "repo",
            {
                **{f: state[f] + "\n" for f in FILES},
                "lockgate.yml": PROJECT,
                ".github/workflows/ci.yml": workflow(state["mode"], state["jb_text"]),
            },
        )
        seen: dict[str, set[tuple[str, ...]]] = {job: set() for job in relevant(state)}
        for step, (kind, what, value) in enumerate([("none", "", ""), *changes]):
            if kind == "file":
                (repo / what).write_text(value + "\n")
            if kind != "none":
                state[what] = value
            if kind == "def":
                workflow_text = workflow(state["mode"], state["jb_text"])
                (repo / ".github/workflows/ci.yml").write_text(workflow_text)
            env = ("--env", f"GREETING={state['env']}")
            code, cached = run_json(repo, *env)
            assert code == 0, cached
            expected = {job for job, inputs in relevant(state).items() if inputs not in seen[job]}
            ran = {k for k, j in jobs_by_key(cached).items() if j["cached_from"] is None}
            assert ran == expected, (step, kind, what, value)
            for job, inputs in relevant(state).items():
                seen[job].add(inputs)
            code, fresh = run_json(repo, "--no-cache", *env)
            assert code == 0, fresh
            assert observable(cached) == observable(fresh)
            assert logs(repo, cached["runs"][0]["run_id"]) == logs(repo, fresh["runs"][0]["run_id"])
