"""Where JUnit reports are looked for: the default locations and lockgate.yml's globs, with
`**/` standing for any number of folders, none included."""

from __future__ import annotations

import os
from pathlib import Path

from lockgate.testresults.junit import find


def _write(workspace: Path, *names: str) -> None:
    for name in names:
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<testsuite/>")


def test_default_locations_include_reports_directly_in_their_folder(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "test-results/unit.xml",
        "test-results/deep/e2e.xml",
        "junit.xml",
        "sub/pytest-junit.xml",
        "other/report.xml",
        "node_modules/x/junit.xml",
    )
    found = [p.relative_to(tmp_path).as_posix() for p in find(tmp_path, 0.0)]
    assert found == ["junit.xml", "sub/pytest-junit.xml", "test-results/deep/e2e.xml",
                     "test-results/unit.xml"]  # fmt: skip


def test_a_configured_glob_and_an_old_report(tmp_path: Path) -> None:
    _write(tmp_path, "build/reports/a.xml", "build/reports/x/b.xml", "build/c.xml")
    old = tmp_path / "build/reports/a.xml"
    os.utime(old, (1000, 1000))
    found = [
        p.relative_to(tmp_path).as_posix() for p in find(tmp_path, 2000, ["build/reports/**/*.xml"])
    ]
    assert found == ["build/reports/x/b.xml"]  # a.xml was written before the step began
