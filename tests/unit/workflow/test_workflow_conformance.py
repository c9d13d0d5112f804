"""GitHub's own workflow-parser cases: what GitHub rejects lockgate rejects, at the same line:col.

Each case is a header, the workflow, any reusable workflows it calls, and GitHub's expected
result. The test counts matches over every case (including those GitHub's TypeScript parser
skips) and names each case that still differs, with the reason it differs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from lockgate.workflow.problems import Limits
from lockgate.workflow.validate import validate

from ...conftest import CONFORMANCE, need

CASES = CONFORMANCE / "gha-workflow-parser"
POSITION = re.compile(r"\(Line: (\d+), Col: (\d+)\)")

# Cases where lockgate follows github.com rather than the case, and why.
KNOWN = {
    "errors-anchor-tag.yml": "github.com accepts YAML anchors since 2025; real workflows use them",
    "events-single-invalid.yml": "github.com ignores unknown keys under workflow_dispatch "
    "(its own parsers skip this case); only the second position is reported",
}


@dataclass(frozen=True)
class Case:
    name: str
    workflow: str
    called: dict[str, str]
    limits: Limits
    expected: list[tuple[int, int]] | None  # positions of the errors, or None: accepted


def load(path: Path) -> Case:
    docs = path.read_text().split("\n---\n")
    header = docs[0]
    numbers = {k: int(v) for k, v in re.findall(r"^([a-z-]+):\s*(\d+)", header, re.M)}
    pairs = docs[2:-1]
    called = {pairs[i].strip(): pairs[i + 1] for i in range(0, len(pairs) - 1, 2)}
    limits = Limits(
        max_file_size=numbers.get("max-file-size", Limits.max_file_size),
        max_depth=numbers.get("max-depth", Limits.max_depth),
        max_jobs=numbers.get("max-job-limit", Limits.max_jobs),
        max_nested_calls=numbers.get("max-nested-reusable-workflows-depth", 4),
        max_result_size=numbers.get("max-result-size", Limits.max_result_size),
        background_steps="allowBackgroundSteps: true" in header,
    )
    result = json.loads(docs[-1])
    expected = None
    if "errors" in result:
        expected = sorted(
            (int(m.group(1)), int(m.group(2))) if (m := POSITION.search(e["Message"])) else (0, 0)
            for e in result["errors"]
        )
    return Case(path.name, docs[1] + "\n", called, limits, expected)


def test_workflow_parser_conformance() -> None:
    need(CASES.is_dir(), f"{CASES} is missing (GitHub's workflow-parser cases)")
    cases = [load(p) for p in sorted(CASES.glob("*.yml"))]
    classified = positioned = 0
    misses: dict[str, str] = {}
    for case in cases:
        got = validate(
            case.workflow, case.limits, case.called.get, f".github/workflows/{case.name}"
        )
        rejected = bool(got.problems)
        if rejected != (case.expected is not None):
            misses[case.name] = f"{'rejected' if rejected else 'accepted'}, GitHub differs"
            continue
        classified += 1
        positions = sorted((p.line, p.col) for p in got.problems)
        if case.expected is None or positions == case.expected:
            positioned += 1
        else:
            misses[case.name] = f"positions {positions}, GitHub {case.expected}"
    assert set(misses) <= set(KNOWN), {k: v for k, v in misses.items() if k not in KNOWN}
    assert classified / len(cases) >= 0.98, (classified, len(cases), misses)
    assert positioned / len(cases) >= 0.95, (positioned, len(cases), misses)
