"""A canary secret pushed through every path lockgate writes or prints never appears raw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import jobs_by_key, lockgate, make_repo

pytestmark = pytest.mark.integration

CANARY = "c4n4ry-Secret-9f31"
WORKFLOW = """
on: push
jobs:
  leak:
    runs-on: ubuntu-latest
    outputs:
      direct: ${{ steps.o.outputs.value }}
      fine: ${{ steps.o.outputs.fine }}
    steps:
      - name: step ${{ secrets.CANARY }}
        id: o
        env: {C: "${{ secrets.CANARY }}"}
        run: |
          echo "plain $C"
          echo "value=x-$C-y" >> "$GITHUB_OUTPUT"
          echo "fine=nothing secret" >> "$GITHUB_OUTPUT"
          echo "::error title=t $C,file=f$C.py,line=1::message $C"
          echo "## summary $C" >> "$GITHUB_STEP_SUMMARY"
          echo "::add-mask::added-mask-value-77"
          echo "then added-mask-value-77 again"
          python3 -c "import os; c=os.environ['C']; print('a' * ((1 << 20) - 5) + c + 'b' * 10)"
          python3 -c "import os; c=os.environ['C']; print('z' * ((16 << 20) - 7) + c + 'q' * (4 << 20))"
      - uses: actions/cache@v4
        with: {path: cached, key: "k-${{ secrets.CANARY }}"}
      - run: mkdir -p cached out && echo data > cached/f && echo "$C" > out/x
        env: {C: "${{ secrets.CANARY }}"}
  bad-expression:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ fromJSON(secrets.CANARY) }}
  uses-output:
    needs: leak
    runs-on: ubuntu-latest
    steps:
      - run: echo "got=${{ needs.leak.outputs.direct }} fine=${{ needs.leak.outputs.fine }}"
"""


def _every_byte(root: Path) -> list[Path]:
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and CANARY.encode() in p.read_bytes()
    ]


def test_a_canary_secret_never_appears_raw(tmp_path: Path, tool_cache: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".github/workflows/leak.yml": WORKFLOW})
    done = lockgate("run", "-s", f"CANARY={CANARY}", "-o", "json", cwd=repo, timeout=300)
    report = json.loads(done.stdout)
    jobs = jobs_by_key(report)
    leak = jobs["leak"]
    assert leak["outputs"].get("fine") == "nothing secret"
    assert "direct" not in leak["outputs"]  # it held a secret: not passed on
    outputs = [
        lockgate("show", str(report["runs"][0]["run_id"]), cwd=repo),
        lockgate("show", str(report["runs"][0]["run_id"]), "-o", "json", cwd=repo),
        lockgate("logs", str(report["runs"][0]["run_id"]), cwd=repo),
        lockgate("runs", cwd=repo),
        lockgate("cache", "ls", cwd=repo),
        # the second run restores `leak` from the job cache: entries must be masked too
        lockgate("run", "-s", f"CANARY={CANARY}", cwd=repo, timeout=300),
    ]
    printed = done.stdout + done.stderr + "".join(o.stdout + o.stderr for o in outputs)
    assert CANARY not in printed
    assert "added-mask-value-77" not in printed
    logs = outputs[2].stdout
    assert "plain ***" in logs and "[line continues]" in logs
    assert "got= fine=nothing secret" in logs
    assert "holds a secret and is not passed on" in outputs[0].stdout + logs
    assert not _every_byte(repo / ".lockgate"), "the state directory holds the raw secret"
    assert not _every_byte(tool_cache)
