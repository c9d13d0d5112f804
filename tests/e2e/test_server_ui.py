"""The web UI in a real browser (the system's headless Chromium, driven by Playwright): a push
shows up as a run whose log streams live; a failing run is red with its annotation; a viewer
sees no deploy buttons and the API refuses them, while an operator promotes a paused canary
whose page then gives the analysis's verdict; pages fit a phone; forms need their CSRF token."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import git, lockgate, need
from .fleet import Load, app_version, build, deploy, eventually, fleet_repo, teardown
from .forgedouble import ForgeDouble
from .serving import (
    STATUSES,
    Server,
    bare_repository,
    bearer,
    dispatch,
    make_token,
    register,
    servers,
    start_server,
)

__all__ = ["servers"]  # the fixture
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage"]  # fmt: skip
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need(CHROMIUM.exists(), "chromium is not installed (apt-get install chromium)")
    need(importlib.util.find_spec("playwright") is not None, "playwright is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def _page(
    browser: Any, server: Server, token: str, width: int = 1200, errors: list[str] | None = None
) -> Any:
    """A fresh browser (own cookies) logged in with `token`; its console errors go to
    `errors`."""
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    if errors is not None:
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.set_default_timeout(60_000)
    page.goto(server.url + "/runs")
    assert page.url.startswith(server.url + "/login")  # nobody sees anything without logging in
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/runs")
    return page


def _fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _pushed_repository(tmp_path: Path, server: Server, workflow: str) -> Path:
    """A working copy whose pushes go to a bare repository with lockgate's hook."""
    source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": workflow})
    done = lockgate("hook", "install", str(bare), "--server", server.url,
                    "--token-file", str(server.home / "hook-token"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    git(source, "remote", "add", "origin", str(bare))
    return source


def _push(source: Path, message: str) -> None:
    git(source, "commit", "-q", "--allow-empty", "-m", message)
    subprocess.run(["git", "-C", str(source), "push", "-q", "origin", "main"],
                   capture_output=True, check=True)  # fmt: skip


SEE_SECOND_LINE = """new MutationObserver(() => {
  for (const log of document.querySelectorAll("pre.log")) {
    if (log.textContent.includes("second line")) document.body.dataset.sawSecondLine = "yes";
  }
}).observe(document.body, {subtree: true, childList: true})"""


def test_a_push_appears_and_its_log_streams_live(
    browser: Any, servers: list[Server], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    workflow = f"""on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          printf '\\033[32mfirst line\\033[0m\\n'
          while [ ! -e {gate} ]; do sleep 0.1; done
          echo second line
"""
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    source = _pushed_repository(tmp_path, server, workflow)
    page = _page(browser, server, make_token(server.home, "reader", "viewer"), width=390)
    _push(source, "live")
    page.wait_for_selector("tr[data-run] a")  # the list refreshes itself
    assert _fits(page)
    page.click("tr[data-run] a")
    page.wait_for_selector("pre.log .ansi-fg-green:text('first line')")  # colours kept
    page.evaluate(SEE_SECOND_LINE)
    gate.write_text("")
    # the line came in while the page stayed: streamed, not reloaded
    page.wait_for_selector("body[data-saw-second-line=yes]")
    page.wait_for_selector("#outcome:text('success')")  # and the end of the run reloads it
    assert _fits(page)
    assert page.query_selector("button[data-api$='/rerun']") is None  # a viewer's page


def test_a_failing_run_is_red_with_its_annotation(
    browser: Any, servers: list[Server], tmp_path: Path
) -> None:
    workflow = """on:
  push:
  workflow_dispatch:
    inputs:
      reason: {type: string, default: none}
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo "fine, reason ${{ inputs.reason }}"
  test:
    needs: lint
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "## Failed checks" >> "$GITHUB_STEP_SUMMARY"
          echo "::error file=app.py,line=3::broken on purpose"
          exit 1
"""
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    source = _pushed_repository(tmp_path, server, workflow)
    _push(source, "red")
    eventually(lambda: server.get("/api/v1/queue")[0]["status"] == "done", 120, "the run")
    page = _page(browser, server, make_token(server.home, "ops", "operator"))
    row = page.wait_for_selector("tr[data-run]")
    assert "o-failure" in (row.get_attribute("class") or "")
    row.query_selector("a").click()
    page.wait_for_selector(".run-head.o-failure")
    red = page.eval_on_selector(".run-head h1", "e => getComputedStyle(e).color")
    assert red == "rgb(207, 34, 46)"
    note = page.inner_text("section.job.o-failure .annotations li.a-error")
    assert "app.py:3" in note and "broken on purpose" in note
    assert page.inner_text(".summary h2") == "Failed checks"  # Markdown, rendered
    graph = page.inner_text(".graph")
    assert graph.index("lint") < graph.index("test") and "after lint" in graph
    with page.expect_navigation():  # to the new queued run
        page.click("button[data-api$='/rerun']")  # an operator's button: the same commit again
    assert len(server.get("/api/v1/queue")) == 2
    page.goto(server.url + "/runs")  # a manual run with an input, from the form
    page.click("details.dispatch summary")
    page.fill("form[data-api] input[name=repository]", str(tmp_path / "app.git"))
    page.fill("form[data-api] textarea[name=inputs]", "reason=asked in the form")
    page.click("form[data-api] button[type=submit]")
    page.wait_for_url(re.compile(r".*/runs/\d+$"), timeout=120_000)  # queued, then its run
    page.wait_for_selector(".run-head.o-failure", timeout=120_000)  # its final page
    logs = " ".join(page.locator("pre.log").all_text_contents())
    assert "fine, reason asked in the form" in logs


READER_WORKFLOW = """on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: echo "lint is clean"
  test:
    needs: lint
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo alpha
          echo "needle in the log"
          echo omega
      - run: |
          while [ ! -e {gate} ]; do sleep 0.1; done
          exit 1
  deploy:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: echo deploying
"""


def _step_running(server: Server, job: str, number: int) -> bool:
    runs = server.get("/api/v1/runs")
    if not runs:
        return False
    found = next((j for j in server.get(f"/api/v1/runs/{runs[0]['id']}")["jobs"]
                  if j["job_id"] == job), None)  # fmt: skip
    return found is not None and any(
        s["number"] == number and s["status"] == "running" for s in found["steps"]
    )


def test_the_run_page_as_a_reader_uses_it_on_a_phone(
    browser: Any, servers: list[Server], tmp_path: Path
) -> None:
    """Where the run comes from; numbered, timed, linkable, searchable log lines; the needs
    graph's edges; the steps the reader opened kept when the live run ends; the re-run
    buttons: failed jobs and one job, each with what depends on it."""
    gate = tmp_path / "gate"
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    source = _pushed_repository(tmp_path, server, READER_WORKFLOW.format(gate=gate))
    errors: list[str] = []
    page = _page(browser, server, make_token(server.home, "ops", "operator"), 390, errors)
    _push(source, "Add the needle")
    eventually(lambda: _step_running(server, "test", 2), 120, "the test job's second step")
    run = server.get("/api/v1/runs")[0]
    page.goto(f"{server.url}/runs/{run['id']}")
    assert page.inner_text(".origin .commit") == "Add the needle"
    assert page.inner_text(".origin .ref") == "main" and "branch" in page.inner_text(".origin")
    assert page.inner_text(".origin .repository").endswith("app.git")
    assert page.inner_text(".run-head .author") == "t <t@example.com>"
    assert page.inner_text(".run-head .actor") == run["actor"]
    assert page.inner_text(".run-head .trigger") == "push from git"
    test = page.locator("section.job[data-job=test]")
    row = test.get_attribute("id").removeprefix("job-")  # type: ignore[union-attr]
    # the reader opens the finished first step and closes the running second one
    test.locator("details.step[data-step='1'] > summary").click()
    test.locator("details.step[data-step='2'] > summary").click()
    needle = page.locator(f"#L{row}-1-2")
    assert needle.locator(".text").inner_text() == "needle in the log"
    assert needle.locator("a.ln").inner_text() == "2"
    assert not needle.locator("time").is_visible()
    page.check("#show-times")
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", needle.locator("time").inner_text())
    test.locator("input.log-search").fill("NEEDLE")
    assert test.locator(".found").inner_text() == "1 matching line"
    assert not page.locator(f"#L{row}-1-1").is_visible() and needle.is_visible()
    assert page.locator("svg.edges path[data-from=lint][data-to=test]").count() == 1
    assert _fits(page)
    gate.write_text("")
    page.wait_for_selector("#outcome:text('failure')")
    page.wait_for_selector(".run-head.o-failure")  # the final page, reloaded
    test = page.locator("section.job[data-job=test]")
    assert test.locator("details.step[data-step='1']").get_attribute("open") is not None
    assert test.locator("details.step[data-step='2']").get_attribute("open") is None
    assert page.locator("svg.edges path[data-from=test][data-to=deploy]").count() == 1
    assert page.is_checked("#show-times")  # remembered
    page.goto(f"{server.url}/runs/{run['id']}#L{row}-1-3")  # a link to a line
    omega = page.locator(f"#L{row}-1-3")
    assert "linked" in (omega.get_attribute("class") or "") and omega.is_visible()
    with page.expect_navigation():
        page.click("button:text('Re-run failed jobs')")
    again = server.get("/api/v1/queue")[0]
    assert again["trigger"]["jobs"] == ["deploy", "test"]
    eventually(lambda: server.get(f"/api/v1/queue/{again['id']}")["status"] == "done", 120,
               "the re-run")  # fmt: skip
    rerun = server.get("/api/v1/runs")[0]
    assert rerun["id"] != run["id"]
    page.goto(f"{server.url}/runs/{rerun['id']}")
    said = page.inner_text(".run-head .trigger")
    assert said == f"re-run of #{run['id']} (deploy, test; the rest taken from it)"
    lint = page.locator("section.job[data-job=lint] .message")
    assert lint.inner_text() == f"taken from run {run['id']}, where it ended"
    page.goto(f"{server.url}/runs/{run['id']}")
    with page.expect_navigation():
        page.locator("section.job[data-job=lint] button:text('Re-run this job')").click()
    assert server.get("/api/v1/queue")[0]["trigger"]["jobs"] == ["deploy", "lint", "test"]
    assert _fits(page) and errors == []


DEPLOY_WORKFLOW = """on: workflow_dispatch
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo built
  deploy:
    needs: build
    runs-on: ubuntu-latest
    environment:
      name: production
      url: https://shop.example.com/${{ steps.go.outputs.release }}
    steps:
      - id: go
        run: echo "release=r-${{ github.run_id }}" >> "$GITHUB_OUTPUT"
"""


def test_a_reviewer_approves_a_held_deployment_on_the_run_page(
    browser: Any, servers: list[Server], tmp_path: Path
) -> None:
    server = start_server(tmp_path / "home", 1)
    servers.append(server)
    _, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": DEPLOY_WORKFLOW})
    register(server, bare)
    said = lockgate("protect", "production", "--reviewer", "alice", "--home", str(server.home),
                    cwd=tmp_path)  # fmt: skip
    assert said.returncode == 0, said.stderr
    carol = make_token(server.home, "carol", "operator")
    assert dispatch(server, bare, carol).status_code == 201
    eventually(lambda: server.get("/api/v1/runs") and server.get("/api/v1/runs")[0]["status"]
               == "waiting", 120, "the held run")  # fmt: skip
    run = server.get("/api/v1/runs")[0]
    errors: list[str] = []
    page = _page(browser, server, make_token(server.home, "alice", "operator"), 390, errors)
    page.goto(f"{server.url}/runs/{run['id']}")
    review = page.locator(".review[data-environment=production]")
    assert "waiting" in review.inner_text() and "reviewers: alice" in review.inner_text()
    assert "deploys to production" in page.inner_text("section.job[data-job=deploy]")
    assert _fits(page)
    with page.expect_navigation():
        review.locator("form.decide:has(input[value=true]) button").click()
    assert "approved by alice" in page.inner_text(".review[data-environment=production]")
    eventually(lambda: all(q["status"] == "done" for q in server.get("/api/v1/queue")), 120,
               "the run that goes on")  # fmt: skip
    went_on = server.get("/api/v1/runs")[0]
    assert went_on["id"] != run["id"] and went_on["conclusion"] == "success"
    page.goto(f"{server.url}/runs/{went_on['id']}")
    link = page.locator("section.job[data-job=deploy] a.environment-url")
    assert link.get_attribute("href") == f"https://shop.example.com/r-{went_on['id']}"
    assert _fits(page) and errors == []


def test_an_operator_queues_a_branch_and_a_pull_request_from_the_page(
    browser: Any, servers: list[Server], tmp_path: Path, github_examples: list[dict[str, Any]],
    github_request_schemas: dict[str, Any],
) -> None:  # fmt: skip
    source, bare = bare_repository(tmp_path / "git", {"README": "x\n"})
    git(source, "checkout", "-q", "-b", "feature/login")
    git(source, "commit", "-q", "--allow-empty", "-m", "login")
    git(source, "push", "-q", str(bare), "feature/login")
    labeled = next(e for e in github_examples if e["name"] == "pull_request")["examples"][8]
    schemas = {"statuses": github_request_schemas[STATUSES]}
    double = ForgeDouble("github", bare, "octo/app", schemas, labeled["pull_request"])
    double.open_pull(12, "feature/login")
    api = double.start()
    server = start_server(tmp_path / "home", 0, "--github-api", double.api,
                          LOCKGATE_GITHUB_TOKEN="forge-token")  # fmt: skip
    servers.append(server)
    register(server, bare)
    register(server, "https://github.example/octo/app", "github", name="octo-app")
    errors: list[str] = []
    page = _page(browser, server, make_token(server.home, "ops", "operator"), 390, errors)
    page.goto(f"{server.url}/merge-queue")

    def queue(repository: str, change: str) -> None:
        page.click("details.dispatch summary")
        page.select_option("select[name=repository]", label=repository)
        page.fill("input[name=change]", change)
        page.click("details.dispatch button[type=submit]")

    with page.expect_navigation():
        queue("app (git)", "feature/login")
    with page.expect_navigation():
        queue("octo-app (github)", "#12")
    rows = page.inner_text("table.merge-queue")
    assert "#12 (feature/login) → main" in rows and "feature/login → main" in rows
    queue("octo-app (github)", "#9")
    page.wait_for_selector("#flash:not([hidden])")
    assert "422: octo/app has no pull request #9" in page.inner_text("#flash")
    assert [e["pull"] for e in server.get("/api/v1/merge-queue")] == [12, None]
    refused = "the server responded with a status of 422"  # the browser's note of the refusal
    assert _fits(page) and [e for e in errors if refused not in e] == [] and double.problems == []
    api.shutdown()


def test_forms_without_their_csrf_token_are_refused(servers: list[Server], tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", 0)
    servers.append(server)
    register(server, "https://example.invalid/o/r.git", "github")
    token = make_token(server.home, "ops", "operator")
    with httpx.Client(base_url=server.url) as client:
        login = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf is not None
        forged = client.post("/login", data={"token": token, "csrf": "guess"})
        assert forged.status_code == 403
        client.post("/login", data={"token": token, "csrf": csrf.group(1)})
        assert client.get("/runs").status_code == 200  # logged in, by cookie
        run = {"repository": "https://example.invalid/o/r.git"}
        assert client.post("/api/v1/runs", json=run).status_code == 403  # no CSRF header
        page = client.get("/runs").text
        header = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert header is not None
        asked = client.post("/api/v1/runs", json=run, headers={"X-CSRF-Token": header.group(1)})
        assert asked.status_code == 201
    assert httpx.get(server.url + "/runs", follow_redirects=False).status_code == 303


STEPS = [{"set-weight": 25}, {"pause": "until-promoted"}, {"analysis": {}}]
ANALYSIS = {"interval": 3, "count": 2}


@pytest.fixture
def paused_canary(tmp_path: Path) -> Iterator[tuple[Path, int, int, str]]:
    """An environment whose canary of a worse version waits for promotion: (repo, router
    port, deployment id, the worse version's digest)."""
    repo, port = fleet_repo(tmp_path, 2, "canary", steps=STEPS, analysis=ANALYSIS)
    good = build(repo, app_version(repo, "v1"))
    worse = build(repo, app_version(repo, "errors", error_rate=0.05))
    assert deploy(repo, good)[0] == 0
    code, report = deploy(repo, worse)
    assert code == 0 and report["result"] == "paused", report
    yield repo, port, report["deployment"], worse
    teardown(repo)


def test_a_viewer_cannot_deploy_and_an_operator_promotes_to_a_verdict(
    browser: Any, servers: list[Server], tmp_path: Path,
    paused_canary: tuple[Path, int, int, str],
) -> None:  # fmt: skip
    repo, port, deployment, worse = paused_canary
    store = f"sqlite:///{repo / '.lockgate' / 'lockgate.db'}"
    server = start_server(tmp_path / "home", 0, "--deployments", str(repo), "--db", store)
    servers.append(server)
    viewer = make_token(server.home, "reader", "viewer", "--db", store)
    page = _page(browser, server, viewer, width=390)  # a phone
    page.goto(server.url + "/environments/test")
    page.wait_for_selector("#rollout-status:text('paused')")
    assert page.query_selector("button[data-api]") is None  # no promote, abort or rollback
    assert _fits(page)
    for action in ("promote", "abort", "rollback"):
        refused = httpx.post(f"{server.url}/api/v1/environments/test/{action}",
                             headers=bearer(viewer))  # fmt: skip
        assert refused.status_code == 403
    assert json.loads(lockgate("status", "test", "-o", "json", cwd=repo).stdout)["latest"][
        "status"
    ] == "paused"  # fmt: skip
    operator = make_token(server.home, "ops", "operator", "--db", store)
    errors: list[str] = []
    page = _page(browser, server, operator, errors=errors)
    page.goto(server.url + "/environments/test")
    with Load(port, workers=4):  # a quarter of ~300 requests a second: a clear verdict
        page.click("button[data-api$='/promote']")
        page.wait_for_selector("#rollout-status:text('rolled_back')", timeout=90_000)
    page.goto(server.url + "/environments")
    assert "test" in page.inner_text("table.runs") and "hello" in page.inner_text("table.runs")
    page.goto(server.url + "/environments/test")
    page.click(f"a[href='/deployments/{deployment}']")
    page.wait_for_selector(".analysis .verdict:text('fail')")
    assert "canary is worse" in page.inner_text(".analysis .verdict-words")
    page.wait_for_selector(".analysis .chart canvas")  # the samples, plotted
    assert [e for e in errors if "Content Security Policy" in e] == []  # htmx, uPlot: all own
    page.goto(server.url + "/environments/test")  # deploy it again from the form, then abort
    page.select_option("form.deploy select", worse)
    page.click("form.deploy button[type=submit]")
    page.wait_for_selector("#rollout-status:text('paused')", timeout=90_000)
    page.click("button[data-api$='/abort']")
    page.wait_for_selector("#rollout-status:text('aborted')", timeout=90_000)
    trail = httpx.get(server.url + "/api/v1/audit", headers=bearer(server.token)).json()
    assert [e["action"] for e in trail if e["actor"] == "ops"] == ["abort", "deploy", "promote"]
    assert page.query_selector("form.override") is None  # break-glass is for admins

    page = _page(browser, server, server.token)  # an admin breaks the glass from the page
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server.url + "/environments/test")
    page.fill("form.override input[name=reason]", "INC-11: analysis misjudges <b>v2</b>")
    page.check("form.override input[value=analysis]")
    page.click("form.override button[type=submit]")
    page.wait_for_selector(".break-glass:has-text('INC-11')")
    shown = page.inner_text(".break-glass")
    assert "(analysis, policy)" in shown and "<b>v2</b>" in shown  # markup shown as text
    trail = httpx.get(server.url + "/api/v1/audit", headers=bearer(server.token)).json()
    assert any(e["action"] == "override" and "INC-11" in e["target"] for e in trail)


SECRET_VALUE = "tok-7f3a9c1e5b"
LEAKY = """on: [push, workflow_dispatch]
jobs:
  leak:
    runs-on: ubuntu-latest
    outputs:
      copy: ${{ steps.say.outputs.copy }}
    steps:
      - id: say
        run: |
          echo "token is ${{ secrets.DEPLOY_TOKEN }}"
          echo "::warning title=${{ secrets.DEPLOY_TOKEN }}::warned with ${{ secrets.DEPLOY_TOKEN }}"
          echo "summary ${{ secrets.DEPLOY_TOKEN }}" >> "$GITHUB_STEP_SUMMARY"
          echo "copy=${{ secrets.DEPLOY_TOKEN }}" >> "$GITHUB_OUTPUT"
"""


def test_secrets_reach_neither_the_pages_nor_the_api(servers: list[Server], tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"DEPLOY_TOKEN={SECRET_VALUE}\n")
    server = start_server(tmp_path / "home", 1, "--secret-file", str(secrets))
    servers.append(server)
    _source, bare = bare_repository(tmp_path, {".github/workflows/ci.yml": LEAKY})
    register(server, bare)
    operator = make_token(server.home, "ops", "operator")
    dispatch(server, bare, operator)
    eventually(lambda: server.get("/api/v1/queue")[0]["status"] == "done", 120, "the run")
    (run,) = server.get("/api/v1/runs")
    assert run["conclusion"] == "success"
    seen = []
    with httpx.Client(base_url=server.url, headers=bearer(server.token), timeout=30) as client:
        for path in ("/api/v1/runs", f"/api/v1/runs/{run['id']}", f"/api/v1/runs/{run['id']}/jobs",
                     f"/api/v1/runs/{run['id']}/logs", "/api/v1/queue", "/api/v1/queue/1",
                     "/api/v1/audit", "/api/v1/insights/tests"):  # fmt: skip
            seen.append(client.get(path).text)
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text)
        assert csrf is not None
        browser.post("/login", data={"token": operator, "csrf": csrf.group(1)})
        for path in ("/runs", "/runs/table", f"/runs/{run['id']}", f"/runs/{run['id']}/graph",
                     "/queue/1", "/insights"):  # fmt: skip
            page = browser.get(path, follow_redirects=True)
            assert page.status_code == 200, path
            seen.append(page.text)
    everything = "\n".join(seen)
    assert SECRET_VALUE not in everything
    assert "token is ***" in everything and "summary ***" in everything
