"""Test results and what their history says: JUnit dialects parsed per test, reports found
where runners leave them, flaky tests proven on the same tree or by a retry, infrastructure
failures left out, slow tests tied to the run that made them slower, runs over budget with
their critical path; and end to end, a real pytest suite run by lockgate that flips on the
same tree, is found flaky, is quarantined, and then no longer fails its job."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from lockgate.engine.testreports import by_policy
from lockgate.insights.dora import Band, Change, dora
from lockgate.insights.gates import ledger
from lockgate.insights.owners import codeowners, owner_of
from lockgate.insights.slow import critical_path, over_budget, slow_tests, step_up
from lockgate.store.deployments import Incident, Rollout, RolloutStatus
from lockgate.store.testresults import JobTiming, Quarantine, RunTiming, TestResult
from lockgate.testresults import junit
from lockgate.testresults.flaky import flaky_tests, standing
from lockgate.testresults.junit import Outcome
from lockgate.workflow.project import QuarantinePolicy

from ..conftest import git, lockgate, make_repo, run_json
from .fleet import Fleets, app_version, build, deploy

PYTEST = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0"
failures="1" skipped="1" tests="3" time="0.5"><testcase classname="tests.test_api" name="test_ok"
file="tests/test_api.py" time="0.010"/><testcase classname="tests.test_api" name="test_bad"
file="tests/test_api.py" time="0.200"><failure message="assert 1 == 2">def test_bad():
&gt;   assert 1 == 2</failure></testcase><testcase classname="tests.test_api" name="test_skip"
time="0.000"><skipped message="not today"/></testcase></testsuite></testsuites>"""
SUREFIRE = """<testsuite name="com.acme.ApiTest" tests="2"><testcase name="retries"
classname="com.acme.ApiTest" time="1.5"><flakyFailure message="timeout" type="java.io.IOException">
at com.acme</flakyFailure><flakyFailure message="timeout"/></testcase><testcase name="broken"
classname="com.acme.ApiTest" time="0.1"><failure message="expected"/><rerunFailure
message="expected"/></testcase></testsuite>"""
JEST = """<testsuites name="jest tests"><testsuite name="math.test.js" tests="1"><testcase
classname="adds numbers" name="adds numbers" time="0.003"></testcase></testsuite></testsuites>"""
GOTESTSUM = """<testsuites><testsuite name="example.com/pkg" tests="1"><testcase
classname="example.com/pkg" name="TestParse" time="0.020"><error message="panic">boom
</error></testcase></testsuite></testsuites>"""


def _report(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_junit_dialects_are_read_per_test(tmp_path: Path) -> None:
    cases = {c.id: c for c in junit.parse(_report(tmp_path, "junit.xml", PYTEST))}
    bad = cases["tests.test_api::test_bad"]
    assert bad.outcome == Outcome.FAILED and bad.file == "tests/test_api.py"
    assert bad.duration == 0.2 and bad.message is not None and "assert 1 == 2" in bad.message
    assert cases["tests.test_api::test_skip"].outcome == Outcome.SKIPPED
    assert cases["tests.test_api::test_ok"].outcome == Outcome.PASSED
    surefire = {c.name: c for c in junit.parse(_report(tmp_path, "TEST-api.xml", SUREFIRE))}
    assert surefire["retries"].outcome == Outcome.PASSED and surefire["retries"].retries == 2
    assert surefire["broken"].outcome == Outcome.FAILED and surefire["broken"].retries == 1
    (jest,) = junit.parse(_report(tmp_path, "jest.xml", JEST))
    assert jest.outcome == Outcome.PASSED and jest.duration == 0.003
    (go,) = junit.parse(_report(tmp_path, "go.xml", GOTESTSUM))
    assert go.outcome == Outcome.ERROR and go.id == "example.com/pkg::TestParse"
    odd = '<testsuite><testcase name="a" time="1e309"/><testcase name="b" time="nan"/></testsuite>'
    assert [c.duration for c in junit.parse(_report(tmp_path, "odd.xml", odd))] == [0.0, 0.0]


@pytest.mark.parametrize(
    "text",
    [
        "<testsuite><testcase name='x'>",  # cut off
        "<html><body>not a report</body></html>",
        "",
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><testsuite><testcase name="&e;"/>'
        "</testsuite>",  # an external entity is never read
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><testsuite><testcase name="&c;"/></testsuite>',
    ],
)
def test_what_is_not_a_report_is_refused_with_its_reason(tmp_path: Path, text: str) -> None:
    path = _report(tmp_path, "junit.xml", text)
    try:
        cases = junit.parse(path)
    except junit.NotAReport as exc:
        assert str(path) in str(exc)
    else:  # a small, well-formed entity document is read, never expanded without bound
        assert len(cases) == 1 and len(cases[0].name) == 1000


def test_reports_are_found_where_runners_leave_them(tmp_path: Path) -> None:
    old = _report(tmp_path, "junit.xml", PYTEST)
    os.utime(old, (1, 1))  # from an earlier step
    since = time.time() - 1
    wanted = [
        _report(tmp_path, "target/surefire-reports/TEST-a.xml", SUREFIRE),
        _report(tmp_path, "web/test-results/jest/results.xml", JEST),
        _report(tmp_path, "report.junit.xml", JEST),
        _report(tmp_path, "out/custom/results.xml", GOTESTSUM),
    ]
    _report(tmp_path, "node_modules/x/junit.xml", JEST)  # a dependency's, not ours
    _report(tmp_path, "pom.xml", "<project/>")
    found = junit.find(tmp_path, since, ["out/custom/*.xml"])
    assert found == sorted(wanted)


def _result(
    run: int, outcome: str, test: str = "t", tree: str | None = "x", **kw: object
) -> TestResult:
    values: dict[str, object] = {
        "run_id": run, "job_row": run, "job_id": "test", "tree": tree, "test": test,
        "file": None, "outcome": outcome, "duration": 1.0, "retries": 0, "quarantined": False,
        "message": None, "at": float(run),
    }  # fmt: skip
    values.update(kw)
    return TestResult(**values)  # type: ignore[arg-type]


def test_flaky_needs_evidence_and_infrastructure_failures_are_not_evidence() -> None:
    history = [
        _result(1, "failed", tree="a"),
        _result(2, "passed", tree="a"),  # same tree: flaky
        _result(3, "failed", test="fixed", tree="b"),
        _result(4, "passed", test="fixed", tree="c"),  # a fix on another tree: not flaky
        _result(5, "passed", test="retried", retries=1),
    ]
    outage = [_result(9, "failed", test=f"t{i}", tree="z") for i in range(5)]
    outage += [_result(10, "passed", test=f"t{i}", tree="z") for i in range(5)]
    found = {f.test: f for f in flaky_tests(history + outage)}
    assert set(found) == {"t", "retried"} | {f"t{i}" for i in range(5)} - set(
        f"t{i}" for i in range(5)
    )
    assert found["t"].rate == 0.5 and found["t"].evidence[0].passed_in == (2,)
    assert found["t"].evidence[0].failed_in == (1,)
    assert found["retried"].evidence[0].kind == "passed on retry"


def test_slow_tests_name_the_run_that_made_them_slower() -> None:
    history = [_result(run, "passed", duration=1.0) for run in range(1, 7)]
    history += [_result(run, "passed", duration=3.0) for run in range(7, 12)]
    (found,) = slow_tests(history)
    assert found.slower_since == 7 and found.p50 == 1.0 and found.p95 == 3.0
    assert step_up([1.0] * 8, list(range(8))) is None


def test_runs_over_budget_show_their_critical_path() -> None:
    jobs = (
        JobTiming("lint", "lint", 1, 0.0, 10.0),
        JobTiming("unit", "unit", 2, 0.0, 50.0),
        JobTiming("build", "build", 3, 50.5, 400.0),
        JobTiming("docs", "docs", 4, 51.0, 60.0),
    )
    assert [j.key for j in critical_path(jobs)] == ["unit", "build"]
    runs = [RunTiming(1, "abc", "ci", 0.0, 700.0, jobs), RunTiming(2, "def", "ci", 0.0, 60.0, ())]
    results = [_result(1, "passed", test="slowest", job_row=3, duration=300.0)]
    (late,) = over_budget(runs, results, 600.0)
    assert late.run_id == 1 and late.critical_path == ("unit", "build")
    assert late.slowest_tests == (("slowest", 300.0),)


PYTEST_STEP = f"{sys.executable} -m pytest -q -p no:cacheprovider --junitxml=junit.xml tests"


def _pytest_repo(
    tmp_path: Path, files: dict[str, str], after: str = "", lint_first: bool = False
) -> Path:
    """A repository whose `test` job checks out and runs pytest on `files` (JUnit XML to
    junit.xml); `after` follows the pytest step; with `lint_first` a `lint` job runs first."""
    jobs_before = "  lint:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo fast\n"
    jobs_before, needs = (jobs_before, "lint") if lint_first else ("", "")
    workflow = f"""on: push
jobs:
{jobs_before}  test:
    needs: [{needs}]
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: {PYTEST_STEP}
{after}"""
    return make_repo(tmp_path / "repo", {".github/workflows/ci.yml": workflow, **files})


FLIPPING = """import os
import pathlib


def test_stable():
    assert True


def test_flips():
    counter = pathlib.Path(os.environ["FLIP_FILE"])
    seen = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(seen + 1))
    assert seen % 2 == 1, "fails every other time"
"""


@pytest.mark.integration
def test_a_test_that_flips_on_one_tree_is_flaky_and_quarantined(tmp_path: Path) -> None:
    files = {"tests/test_flip.py": FLIPPING, ".gitignore": "junit.xml\n"}
    repo = _pytest_repo(tmp_path, files, after="      - run: echo after the tests\n")
    env = {"FLIP_FILE": str(tmp_path / "flips")}
    code, _ = run_json(repo, env=env)
    assert code == 1
    shown = json.loads(lockgate("tests", "1", "-o", "json", cwd=repo).stdout)
    assert shown[0]["test"] == "tests.test_flip::test_flips" and shown[0]["outcome"] == "failed"
    assert "fails every other time" in shown[0]["message"]
    assert run_json(repo, env=env)[0] == 0  # the same tree passes now
    flaky = json.loads(lockgate("insights", "flaky", "-o", "json", cwd=repo).stdout)
    assert [f["test"] for f in flaky] == ["tests.test_flip::test_flips"]
    (proof,) = flaky[0]["evidence"]
    assert proof["kind"] == "same tree" and proof["passed_in"] == [2] and proof["failed_in"] == [1]
    done = lockgate(
        "tests", "quarantine", "tests.test_flip::test_flips", "--owner", "ana", cwd=repo
    )
    assert done.returncode == 0, done.stderr
    code, report = run_json(repo, "--no-cache", env=env)  # it fails again: quarantined
    assert code == 0
    (job,) = [j for run in report["runs"] for j in run["jobs"]]
    assert job["conclusion"] == "success"
    assert [s["conclusion"] for s in job["steps"]][-2:] == ["success", "success"]  # the next ran
    assert job["steps"][1]["outcome"] == "failure"  # as it was; it no longer fails the job
    shown = json.loads(lockgate("tests", "3", "-o", "json", cwd=repo).stdout)
    assert shown[0]["quarantined"] is True
    (stored,) = json.loads(lockgate("show", "3", "-o", "json", cwd=repo).stdout)["jobs"]
    assert "Quarantined tests" in stored["summary"] and "owner ana" in stored["summary"]
    said = [a["message"] for a in stored["annotations"]]
    assert "passed with quarantined failures: tests.test_flip::test_flips" in said
    (flips, stable) = json.loads(lockgate("insights", "tests", "-o", "json", cwd=repo).stdout)
    assert (flips["test"], flips["runs"], flips["failures"]) == (
        "tests.test_flip::test_flips",
        3,
        2,
    )
    assert flips["history"] == "F.F" and stable["failures"] == 0
    slow = json.loads(lockgate("insights", "slow", "-o", "json", cwd=repo).stdout)
    assert {t["name"] for t in slow["tests"]} == {
        "tests.test_flip::test_flips", "tests.test_flip::test_stable"
    }  # fmt: skip


@pytest.mark.integration
def test_a_flip_with_no_cache_is_flaky_and_not_a_real_catch(tmp_path: Path) -> None:
    """--no-cache reads and saves nothing, but the job's input tree is still recorded: a test
    that fails and then passes on the same tree is flaky, and the gate counts it as a flake."""
    files = {"tests/test_flip.py": FLIPPING, ".gitignore": "junit.xml\n"}
    repo = _pytest_repo(tmp_path, files, after="")
    env = {"FLIP_FILE": str(tmp_path / "flips")}
    assert run_json(repo, "--no-cache", env=env)[0] == 1
    code, report = run_json(repo, "--no-cache", env=env)
    assert code == 0
    (job,) = [j for run in report["runs"] for j in run["jobs"]]
    assert job["cached_from"] is None  # it ran: nothing was read from the cache
    flaky = json.loads(lockgate("insights", "flaky", "-o", "json", cwd=repo).stdout)
    assert [f["test"] for f in flaky] == ["tests.test_flip::test_flips"]
    assert flaky[0]["evidence"][0]["kind"] == "same tree"
    (gate,) = json.loads(lockgate("insights", "gates", "-o", "json", cwd=repo).stdout)
    assert (gate["failures"], gate["flaky"], gate["real"]) == (1, 1, 0)
    assert lockgate("cache", "ls", "-o", "json", cwd=repo).stdout.strip() in ("[]", "")


# -- DORA ----------------------------------------------------------------------------------------
def _deployment(
    id: int, status: RolloutStatus, at: float, kind: str = "deploy", env: str = "prod"
) -> Rollout:
    return Rollout(id, "app", env, f"d{id}", None, "rolling", kind, status, at, "me",
                   finished_at=at + 60)  # fmt: skip


def test_dora_counts_each_failed_deployment_once() -> None:
    day = 86400.0
    history = [
        _deployment(1, RolloutStatus.SUCCEEDED, 0),
        _deployment(2, RolloutStatus.ROLLED_BACK, day),  # failed, recovered in 60 s
        _deployment(3, RolloutStatus.SUCCEEDED, 2 * day),  # an incident, and a rollback after
        _deployment(4, RolloutStatus.SUCCEEDED, 2 * day + 600, kind="rollback"),
        _deployment(5, RolloutStatus.SUCCEEDED, 3 * day),
        _deployment(6, RolloutStatus.SUCCEEDED, 4 * day),  # followed by a revert: failed
        _deployment(7, RolloutStatus.SUCCEEDED, 4 * day + 3600),
        _deployment(8, RolloutStatus.ABORTED, 5 * day),  # never went live: not counted
        _deployment(9, RolloutStatus.SUCCEEDED, 5 * day, env="staging"),
    ]
    incidents = [
        Incident(1, "prod", "500s", 2 * day + 100, 2 * day + 1900, 3),
        Incident(2, "prod", "still 500s", 2 * day + 200, None, 3),  # the same deployment
    ]
    changes = {7: Change((4 * day,), revert=True), 5: Change((3 * day - 7200, 3 * day - 3600))}
    prod = [d for d in history if d.environment == "prod"]
    metrics = {m.name: m for m in dora(prod, incidents, changes, days=10)}
    failure = metrics["change failure rate"]
    assert failure.count == 6 and failure.value == 3 / 6 and failure.band == Band.LOW
    assert metrics["failed deployment recovery time"].value == 1800.0  # median of 60, 1800, 3660
    assert metrics["deployment frequency"].value == 5 / 10
    assert metrics["deployment frequency"].band == Band.HIGH
    assert metrics["lead time for changes"].value == 3660.0  # median of 7260, 3660, 3660
    assert metrics["deployment rework rate"].value == 2 / 7  # the rollback and the revert


@pytest.mark.integration
def test_dora_from_real_deployments(fleets: Fleets) -> None:
    repo, _ = fleets(1, "rolling", **{"readiness-timeout": 5})
    good = build(repo, app_version(repo, "v1"))
    broken = build(repo, app_version(repo, "v2", refuse_start=True))
    assert deploy(repo, good)[0] == 0
    assert deploy(repo, broken)[0] == 1  # rolled back
    done = lockgate("incident", "open", "test", "--title", "errors after v1", cwd=repo)
    assert done.returncode == 0 and "deployment 1" in done.stdout
    assert lockgate("incident", "resolve", "1", cwd=repo).returncode == 0
    found = json.loads(lockgate("insights", "dora", "--env", "test", "-o", "json", cwd=repo).stdout)
    metrics = {m["name"]: m for m in found}
    assert metrics["change failure rate"]["value"] == 1.0  # both: one rolled back, one incident
    assert metrics["deployment frequency"]["count"] == 1
    lead = metrics["lead time for changes"]
    assert lead["count"] == 1 and lead["value"] > 0  # the commit the artifact was built from
    assert metrics["failed deployment recovery time"]["band"] == "elite"


# -- the gate ledger -------------------------------------------------------------------------------
def _job(row: int, conclusion: str, tree: str, job_id: str = "unit") -> JobTiming:
    return JobTiming(job_id, job_id, row, 0.0, 600.0, conclusion, tree)


def test_gate_failures_are_told_apart_by_evidence() -> None:
    runs = [
        RunTiming(1, "a", "ci.yml", 0, 600, (_job(1, "failure", "t1"),)),  # fixed later: real
        RunTiming(2, "b", "ci.yml", 0, 600, (_job(2, "failure", "t2"),)),  # t2 passed: flaky
        RunTiming(3, "b", "ci.yml", 0, 600, (_job(3, "success", "t2"),)),
        RunTiming(4, "c", "ci.yml", 0, 600, (_job(4, "failure", "t4"),)),  # infrastructure
        RunTiming(5, "d", "ci.yml", 0, 600, (_job(5, "success", "t5"), _job(6, "success", "x", "lint"))),
        RunTiming(6, "e", "ci.yml", 0, 600, (_job(7, "failure", "t7"),)),  # nothing passed since
    ]  # fmt: skip
    unit, lint = ledger(runs, {4}, {"unit": "@ci", "lint": None}, days=7)
    assert (unit.real, unit.flaky, unit.infrastructure, unit.open) == (1, 1, 1, 1)
    assert unit.minutes_per_week == 60.0 and unit.catches_per_hour == 1 / 1.0
    assert (lint.failures, lint.catches_per_hour, lint.owner) == (0, 0.0, None)


def test_owners_follow_codeowners_rules(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text(
        "# comment\n* @everyone\n/.github/workflows/ @ci-team  # workflows\n*.md @docs\n"
    )
    entries = codeowners(tmp_path)
    assert owner_of(".github/workflows/ci.yml", entries) == "@ci-team"
    assert owner_of("src/app.py", entries) == "@everyone"
    assert owner_of("docs/x/readme.md", entries) == "@docs"
    assert owner_of("x", []) is None


@pytest.mark.integration
def test_the_gate_ledger_from_real_runs(tmp_path: Path) -> None:
    workflow = """on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo clean
  unit:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: test ! -e broken
"""
    repo = make_repo(
        tmp_path / "repo",
        {
            ".github/workflows/ci.yml": workflow,
            ".github/CODEOWNERS": "/.github/ @ci-team\n",
            "lockgate.yml": "jobs:\n  lint:\n    owner: '@style'\n",
            "broken": "",
        },
    )
    assert run_json(repo)[0] == 1
    git(repo, "rm", "-q", "broken")
    git(repo, "commit", "-qm", "fix")
    assert run_json(repo)[0] == 0
    found = json.loads(lockgate("insights", "gates", "-o", "json", cwd=repo).stdout)
    gates = {g["job_id"]: g for g in found}
    assert gates["unit"]["real"] == 1 and gates["unit"]["owner"] == "@ci-team"
    assert gates["lint"]["failures"] == 0 and gates["lint"]["owner"] == "@style"
    assert found[0]["job_id"] == "unit"  # it earned its place: it caught something


@pytest.mark.integration
def test_a_step_whose_tests_failed_runs_again_and_proves_the_flake(tmp_path: Path) -> None:
    files = {"tests/test_flip.py": FLIPPING, "lockgate.yml": "jobs:\n  test:\n    retry: 2\n"}
    repo = _pytest_repo(tmp_path, files)
    code, report = run_json(repo, env={"FLIP_FILE": str(tmp_path / "flips")})
    assert code == 0  # the second attempt passed
    (job,) = [j for run in report["runs"] for j in run["jobs"]]
    names = [s["name"] for s in job["steps"]]
    assert names[-1].endswith("(attempt 2)") and len(names) == 3  # checkout, 2 attempts
    results = json.loads(lockgate("tests", "1", "-o", "json", cwd=repo).stdout)
    flips = [r for r in results if r["test"] == "tests.test_flip::test_flips"]
    assert [(r["outcome"], r["retries"]) for r in flips] == [("failed", 0), ("passed", 1)]
    (flaky,) = json.loads(lockgate("insights", "flaky", "-o", "json", cwd=repo).stdout)
    assert {e["kind"] for e in flaky["evidence"]} == {"same tree", "passed on retry"}


@pytest.mark.integration
def test_a_policy_quarantines_a_proven_flake_when_it_fails_again(tmp_path: Path) -> None:
    policy = "tests:\n  quarantine: {flake-rate: 0.2, owner: '@qa', days: 7}\n"
    repo = _pytest_repo(tmp_path, {"tests/test_flip.py": FLIPPING, "lockgate.yml": policy})
    env = {"FLIP_FILE": str(tmp_path / "flips")}
    assert run_json(repo, env=env)[0] == 1  # no evidence yet: it fails the job
    assert run_json(repo, env=env)[0] == 0  # the same tree passes: now it is proven flaky
    assert run_json(repo, "--no-cache", env=env)[0] == 0  # fails again: quarantined, excused
    (entry,) = json.loads(lockgate("tests", "quarantined", "-o", "json", cwd=repo).stdout)
    assert entry["quarantine"]["by"] == "policy" and entry["quarantine"]["owner"] == "@qa"
    assert "flaky in 67% of its last 3 results" in entry["quarantine"]["reason"]
    assert entry["release_proposed"] is False and entry["clean_runs"] == 0


def test_release_is_proposed_after_clean_runs_on_varied_trees() -> None:
    held = Quarantine("t", "ana", "flaky", 0.0, 10**10, "ana")
    clean = [_result(run, "passed", tree=f"tree{run % 4}") for run in range(1, 11)]
    ready = standing(held, [_result(0, "failed"), *clean], clean_runs=10, now=1.0)
    assert (ready.clean_runs, ready.trees, ready.release_proposed) == (10, 4, True)
    one_tree = standing(held, [_result(r, "passed", tree="a") for r in range(10)], 10, 1.0)
    assert one_tree.release_proposed is False  # the same code ten times proves little
    retried = standing(held, [*clean, _result(11, "passed", retries=1)], 10, 1.0)
    assert retried.clean_runs == 0
    proposed = by_policy([_result(1, "failed"), _result(2, "passed")], _policy(), 5.0)
    assert [(q.test, q.by, q.until) for q in proposed] == [("t", "policy", 5.0 + 7 * 86400)]


def _policy() -> QuarantinePolicy:
    return QuarantinePolicy.model_validate({"flake-rate": 0.3, "days": 7})


LEAKY = """import os


def test_token():
    assert os.environ["TOKEN"] == "expected", "the token was wrong"
"""


@pytest.mark.integration
def test_failure_messages_are_stored_masked(tmp_path: Path) -> None:
    secret = "        env:\n          TOKEN: ${{ secrets.TOKEN }}\n"
    repo = _pytest_repo(tmp_path, {"tests/test_leak.py": LEAKY}, after=secret)
    code, _ = run_json(repo, "-s", "TOKEN=hunter2-canary-secret")
    assert code == 1
    (result,) = json.loads(lockgate("tests", "1", "-o", "json", cwd=repo).stdout)
    assert "***" in result["message"] and "hunter2" not in result["message"]
    for stored in (repo / ".lockgate").glob("lockgate.db*"):  # the database and its journal
        assert b"hunter2-canary-secret" not in stored.read_bytes()


SLOW = """import time


def test_quick():
    pass


def test_sleepy():
    time.sleep(1.2)
"""


@pytest.mark.integration
def test_a_slow_test_is_named_on_the_critical_path_of_a_run_over_budget(tmp_path: Path) -> None:
    files = {"tests/test_slow.py": SLOW, "lockgate.yml": "tests:\n  test-budget: 1s\n"}
    repo = _pytest_repo(tmp_path, files, lint_first=True)
    assert run_json(repo)[0] == 0
    (job,) = [j for j in json.loads(lockgate("show", "1", "-o", "json", cwd=repo).stdout)["jobs"]
              if j["job_id"] == "test"]  # fmt: skip
    said = [a["message"] for a in job["annotations"]]
    assert any("test_sleepy took" in text and "over the test budget" in text for text in said)
    found = json.loads(
        lockgate("insights", "slow", "--budget", "1s", "-o", "json", cwd=repo).stdout
    )
    assert found["tests"][0]["name"] == "tests.test_slow::test_sleepy"
    (late,) = found["over_budget"]
    assert late["critical_path"] == ["lint", "test"]
    assert late["slowest_tests"][0][0] == "tests.test_slow::test_sleepy"
