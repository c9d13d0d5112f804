"""JUnit XML reports: where test runners leave them, and what they say, per test.

Read with junitparser. The dialects differ in where they put things: pytest (`--junitxml`)
writes `file` on each testcase; jest-junit and gotestsum name the suite by file or package;
Maven Surefire marks a test that failed and then passed on a rerun with `flakyFailure` /
`flakyError` children of a passing testcase, and one that failed on every rerun with
`rerunFailure` / `rerunError`. Each becomes a TestCase with its retries counted.
"""

from __future__ import annotations

import enum
import fnmatch
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import ParseError

from junitparser import Error, Failure, JUnitXml, JUnitXmlError, Skipped, TestSuite

RETRY_TAGS = ("flakyFailure", "flakyError", "rerunFailure", "rerunError")
# Where the common runners write by default, or where projects usually point them.
DEFAULT_PATTERNS = (
    "*junit*.xml",  # pytest --junitxml=junit.xml, jest-junit's junit.xml, gotestsum --junitfile
    "TEST-*.xml",  # Maven Surefire / Failsafe, Gradle, Ant
    "test-results/**/*.xml",
    "test-reports/**/*.xml",
    "surefire-reports/*.xml",
)
SKIPPED_DIRS = {".git", "node_modules", ".venv", "venv", ".tox", "__pycache__", ".lockgate"}
MAX_MESSAGE = 2000
MAX_REPORT = 50 << 20  # bytes: a larger file is not a test report worth reading whole


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # (not a pytest test class)
    suite: str  # the classname (pytest, Surefire), else the suite's name (jest, go)
    name: str
    file: str | None
    outcome: Outcome
    duration: float
    retries: int  # failed attempts before the last (Surefire's reruns)
    message: str | None  # the failure's message and text, cut to MAX_MESSAGE

    @property
    def id(self) -> str:
        return f"{self.suite}::{self.name}" if self.suite else self.name


class NotAReport(Exception):
    """A file that is not readable JUnit XML: the message says which and why."""


def parse(path: Path) -> list[TestCase]:
    """Every testcase of the report at `path`."""
    try:
        if path.stat().st_size > MAX_REPORT:
            raise NotAReport(f"{path}: larger than {MAX_REPORT >> 20} MB")
        root = JUnitXml.fromfile(str(path))
    except (OSError, ParseError, ValueError, JUnitXmlError) as exc:
        raise NotAReport(f"{path}: not JUnit XML ({exc})") from None
    if root._elem.tag not in ("testsuites", "testsuite"):
        raise NotAReport(f"{path}: not JUnit XML (its root is <{root._elem.tag}>)")
    return [
        case for element in root._elem.iter("testsuite") for case in _cases(element) if case.name
    ]


def _cases(element: object) -> Iterator[TestCase]:
    suite = TestSuite.fromelem(element)
    for case in suite:
        results = list(case.result)
        if any(isinstance(r, Failure) for r in results):
            outcome = Outcome.FAILED
        elif any(isinstance(r, Error) for r in results):
            outcome = Outcome.ERROR
        elif any(isinstance(r, Skipped) for r in results):
            outcome = Outcome.SKIPPED
        else:
            outcome = Outcome.PASSED
        reruns = [child for child in case._elem if child.tag in RETRY_TAGS]
        told = [child for child in case._elem if child.tag in ("failure", "error")] or reruns
        message = None
        if told and outcome in (Outcome.FAILED, Outcome.ERROR):
            first = told[0]
            said = [first.get("message") or "", (first.text or "").strip()]
            message = "\n".join(part for part in said if part)[:MAX_MESSAGE] or None
        yield TestCase(
            suite=str(case.classname or suite.name or ""),
            name=str(case.name or ""),
            file=case._elem.get("file") or suite._elem.get("file"),
            outcome=outcome,
            duration=_seconds(case._elem.get("time")),
            retries=len(reruns),
            message=message,
        )


def _seconds(text: str | None) -> float:
    try:
        value = float((text or "0").replace(",", ""))
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value >= 0 else 0.0  # "nan", "1e309": unknown


def find(workspace: Path, since: float, patterns: Sequence[str] = ()) -> list[Path]:
    """Reports written in `workspace` at or after `since` (a step's start), matching the
    default locations or `patterns` (workspace-relative globs from lockgate.yml)."""
    wanted = (*DEFAULT_PATTERNS, *patterns)
    found = []
    for folder, dirs, files in os.walk(workspace):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in files:
            if not name.endswith(".xml"):
                continue
            path = Path(folder) / name
            relative = path.relative_to(workspace).as_posix()
            if not any(_matches(relative, pattern) for pattern in wanted):
                continue
            try:
                if path.is_symlink() or path.stat().st_mtime < since:
                    continue
            except OSError:
                continue
            found.append(path)
    return sorted(found)


def _matches(relative: str, pattern: str) -> bool:
    """A glob on the workspace-relative path; one without a slash matches any file name."""
    if "/" not in pattern:
        return fnmatch.fnmatch(relative.rpartition("/")[2], pattern)
    if pattern.startswith("**/"):
        pattern = pattern[3:]
    # `/**/` stands for any number of folders, none included (`test-results/**/*.xml` matches
    # test-results/unit.xml); fnmatch's `*` already crosses slashes, so drop it once.
    forms = {pattern, pattern.replace("/**/", "/")}
    return any(
        fnmatch.fnmatch(relative, form) or fnmatch.fnmatch(relative, f"*/{form}") for form in forms
    )
