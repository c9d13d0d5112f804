"""10 changes through the merge queue, two of which break only when combined with another
(each adds a flag file; the test fails when both flags are there). Reported for depth 1 (one
change tested at a time, as testing them one by one) and depth 4 (speculative): how many
commits of main are red (target 0), which changes merged, and the time from queueing the first
change to the queue being empty, with the ratio of the two depths.

Usage: python benchmarks/merge_queue.py
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from common import IN_PROCESS, LOCKGATE, api_token, committed_repo, serving

CHANGES = 10
BREAKERS = (3, 7)  # these two change files that only break the build together
WORKFLOW = """on: merge_group
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: sleep 1; test ! -e flag-3 || test ! -e flag-7
"""


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    return subprocess.run(["git", "-C", str(repo), *identity, *args], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip


def red(bare: Path, since: str) -> int:
    """Commits of main (first parents since `since`) where both flags are present."""
    count = 0
    for commit in git(bare, "rev-list", "--first-parent", f"{since}..main").split():
        files = git(bare, "ls-tree", "--name-only", commit).split()
        count += "flag-3" in files and "flag-7" in files
    return count


def trial(root: Path, depth: int) -> tuple[float, int, list[str]]:
    source = committed_repo(root / "src", {".github/workflows/ci.yml": WORKFLOW})
    bare = root / "app.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
    git(source, "remote", "add", "origin", str(bare))
    for n in range(CHANGES):
        git(source, "checkout", "-q", "-b", f"change-{n}", "main")
        name = f"flag-{n}" if n in BREAKERS else f"file-{n}"
        (source / name).write_text(f"{n}\n")
        git(source, "add", name)
        git(source, "commit", "-qm", f"change {n}")
        git(source, "push", "-q", "origin", f"change-{n}")
    home = root / "home"
    token = api_token(home, "ops", "operator")
    start = git(bare, "rev-parse", "main")
    with serving(home, 2, "--merge-depth", str(depth), env={}) as url:
        subprocess.run([str(LOCKGATE), "hook", "install", str(bare), "--server", url, "--protect",
                        "main", "--token-file", str(home / "hook-token")],
                       check=True, capture_output=True, env=IN_PROCESS)  # fmt: skip
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        began = time.perf_counter()
        for n in range(CHANGES):
            client.post("/api/v1/merge-queue", json={"repository": str(bare),
                                                     "branch": f"change-{n}"})  # fmt: skip
        while True:
            entries = client.get("/api/v1/merge-queue").json()
            if all(e["state"] in ("merged", "failed") for e in entries):
                break
            time.sleep(0.1)
        took = time.perf_counter() - began
    merged = sorted(e["branch"] for e in entries if e["state"] == "merged")
    return took, red(bare, start), merged


def main() -> None:
    results = {}
    for depth in (1, 4):
        with tempfile.TemporaryDirectory(prefix="lockgate-mq-") as tmp:
            results[depth] = trial(Path(tmp), depth)
            took, reds, merged = results[depth]
            print(
                f"depth {depth}: {took:.1f}s, {reds} red commits on main, "
                f"{len(merged)} of {CHANGES} merged (left out: "
                f"{sorted(set(f'change-{n}' for n in range(CHANGES)) - set(merged))})"
            )
    print(
        f"speculative (depth 4) against one at a time (depth 1): "
        f"ratio {results[4][0] / results[1][0]:.2f}"
    )


if __name__ == "__main__":
    main()
