"""Guarded flag rollouts through a real `lockgate serve`: an application on OpenFeature's SDK
(lockgate's provider) tracks its requests, the server judges each step on them, climbs while
they are healthy, and switches the flag off by itself when the flag's users start failing,
across a kill -9 of the server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails

from lockgate.flags.client import FlagClient
from lockgate.flags.openfeature import LockgateProvider
from lockgate.flags.service import FlagService
from lockgate.store import Store
from lockgate.store.flagrollouts import RolloutRecords, RolloutState
from lockgate.store.flags import FlagRecords

from .fleet import eventually
from .prometheus import prometheus
from .serving import bearer, make_token, start_server

ANALYSIS = {"interval": 0.5, "min-samples": 30,
            "metrics": [{"name": "error-rate", "tolerance": 0.05}]}  # fmt: skip


class App:
    """An application's requests: 10 users every 50 ms, each asking the flag and tracking
    how the request went; with `failing`, a request the flag is on for fails."""

    def __init__(self, client: OpenFeatureClient) -> None:
        self.client, self.failing = client, False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        user = 0
        while not self.stop.wait(0.05):
            for _ in range(10):
                user = (user + 1) % 500
                context = EvaluationContext(f"user-{user}")
                on = self.client.get_boolean_value("new-checkout", False, context)
                details = {"flag": "new-checkout", "failed": on and self.failing}
                self.client.track("request", context, TrackingEventDetails(0.01, details))


@contextmanager
def running(app: App) -> Iterator[App]:
    app.thread.start()
    try:
        yield app
    finally:
        app.stop.set()
        app.thread.join(10)


def test_a_regression_behind_a_flag_switches_it_off_by_itself(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'flags.db'}"
    server = start_server(tmp_path / "home", 0, "--db", db)
    FlagService(FlagRecords(Store(db))).create("new-checkout", "release", "", "alice")
    operator = make_token(server.home, "otto", "operator", "--db", db)
    viewer = make_token(server.home, "vera", "viewer", "--db", db)
    guarded = f"{server.url}/api/v1/flags/new-checkout/environments/production/guarded"
    wanted = {"steps": [20, 50, 100], "bake": 1, "window": 8, "analysis": ANALYSIS}
    records = RolloutRecords(Store(db))
    flags = FlagClient(server.url, f"production.{server.token}", refresh=3600, report=0.2)
    api.set_provider(LockgateProvider(flags), domain="guarded")
    try:
        assert httpx.post(guarded, json=wanted, headers=bearer(viewer)).status_code == 403
        for body, said in [({**wanted, "steps": [50, 20]}, "steps must rise"),
                           ({**wanted, "analysis": {"interval": 0}}, "greater than 0")]:  # fmt: skip
            bad = httpx.post(guarded, json=body, headers=bearer(operator))
            assert bad.status_code == 400 and said in bad.json()["detail"], bad.text
        started = httpx.post(guarded, json=wanted, headers=bearer(operator))
        assert started.status_code == 201, started.text
        rollout_id = started.json()["id"]
        again = httpx.post(guarded, json=wanted, headers=bearer(operator))
        assert again.status_code == 409

        assert flags.wait_until_fetched(20)
        with running(App(api.get_client("guarded"))) as app:
            # healthy: the guard measures 20% against the rest, and goes on to 50%
            eventually(lambda: _at(records, rollout_id) == (1, True), 60, "on to 50%")
            server.process.kill()  # -9, in the middle of step 2
            server.process.wait()
            app.failing = True  # the new code path breaks while nobody is watching
            server = start_server(tmp_path / "home", 0, "--db", db, port=server.port)
            eventually(lambda: records.get(rollout_id).state == RolloutState.ROLLED_BACK,  # type: ignore[union-attr]
                       60, "switched off by the guard")  # fmt: skip
            eventually(lambda: not flags.enabled("new-checkout", {"userId": "user-1"})
                       and all(not flags.enabled("new-checkout", {"userId": f"user-{n}"})
                               for n in range(500)), 20, "every user's flag off")  # fmt: skip

        final = records.get(rollout_id)
        assert final is not None and final.reason.startswith("step 2 (50%): ")
        assert "error-rate" in final.reason
        history = FlagRecords(Store(db)).changes("new-checkout")
        assert history[0].actor == f"guarded rollout #{rollout_id}"
        assert history[0].summary.startswith("disabled in production: step 2 (50%)")
        analyses = records.analyses(rollout_id)
        assert {a.verdict for a in analyses if a.step == "step 1 (20%)"} >= {"pass"}
        assert analyses[-1].verdict == "fail"

        shown = httpx.get(f"{server.url}/api/v1/flags/rollouts/{rollout_id}",
                          headers=bearer(viewer))  # fmt: skip
        assert shown.json()["state"] == "rolled-back"
        page = httpx.get(f"{server.url}/flags/rollouts/{rollout_id}", headers=bearer(viewer))
        assert page.status_code == 200 and 'data-sides="flag on,flag off"' in page.text
        assert 'class="chart"' in page.text and "rolled-back" in page.text
        listing = httpx.get(f"{server.url}/flags", headers=bearer(operator))
        assert f'href="/flags/rollouts/{rollout_id}"' in listing.text
        assert "Guarded rollout" in listing.text  # a new one can be started from the page
    finally:
        api.clear_providers()
        flags.close()
        server.process.kill()
        server.process.wait()


def test_observations_need_a_key_and_a_valid_batch(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'flags.db'}"
    server = start_server(tmp_path / "home", 0, "--db", db)
    url = f"{server.url}/api/client/observations"
    key = {"Authorization": f"production.{server.token}"}
    one = {"flag": "unguarded", "side": "on", "failed": False, "latency": 0.01}
    try:
        assert httpx.post(url, json={"observations": [one]}).status_code == 401
        kept = httpx.post(url, json={"observations": [one, one]}, headers=key)
        assert kept.status_code == 202 and kept.json() == {"accepted": 0, "discarded": 2}
        for body, said in [({"observations": [{**one, "latency": -1}]}, "latency"),
                           ({"observations": [{**one, "extra": 1}]}, "extra"),
                           ({"observations": [one] * 5001}, "observations"),
                           ({"nothing": []}, "observations")]:  # fmt: skip
            bad = httpx.post(url, json=body, headers=key)
            assert bad.status_code == 400 and said in bad.json()["detail"], bad.text
    finally:
        server.process.kill()
        server.process.wait()


class Exporter(BaseHTTPRequestHandler):
    """An application's /metrics with its requests and errors labelled by the side of the
    flag they were on: 100 requests a second on each side, half of the `on` side failing."""

    started = time.time()

    def do_GET(self) -> None:
        seconds = time.time() - self.started
        lines = [f'shop_requests_total{{side="{side}"}} {100 * seconds:.1f}'
                 for side in ("on", "off")]  # fmt: skip
        lines += [f'shop_errors_total{{side="on"}} {50 * seconds:.1f}',
                  'shop_errors_total{side="off"} 0']  # fmt: skip
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_prometheus_labels_judge_the_flag_by_side(tmp_path: Path) -> None:
    """The same analysis from PromQL: `$POOL` is the side (on, off), so a query over the
    application's own labels measures each side; the worse `on` side switches the flag off."""
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    db = f"sqlite:///{tmp_path / 'flags.db'}"
    query = ('sum(rate(shop_errors_total{side="$POOL"}[3s])) / '
             'sum(rate(shop_requests_total{side="$POOL"}[3s]))')  # fmt: skip
    with prometheus(tmp_path, [f"127.0.0.1:{exporter.server_address[1]}"]) as url:
        server = start_server(tmp_path / "home", 0, "--db", db)
        try:
            FlagService(FlagRecords(Store(db))).create("new-checkout", "release", "", "alice")
            analysis = {"interval": 1, "prometheus": url,
                        "metrics": [{"name": "error-rate", "query": query, "tolerance": 0.05}]}  # fmt: skip
            started = httpx.post(
                f"{server.url}/api/v1/flags/new-checkout/environments/production/guarded",
                json={"steps": [20, 100], "bake": 600, "window": 20, "analysis": analysis},
                headers=bearer(server.token),
            )  # fmt: skip
            assert started.status_code == 201, started.text
            records = RolloutRecords(Store(db))
            rollout_id = started.json()["id"]
            eventually(lambda: records.get(rollout_id).state == RolloutState.ROLLED_BACK,  # type: ignore[union-attr]
                       60, "switched off on Prometheus' word")  # fmt: skip
            reason = records.get(rollout_id).reason  # type: ignore[union-attr]
            assert "canary is worse" in reason and "vs baseline 0 (" in reason, reason
        finally:
            server.process.kill()
            server.process.wait()
            exporter.shutdown()


def _at(records: RolloutRecords, rollout_id: int) -> tuple[int, bool] | None:
    found = records.get(rollout_id)
    return None if found is None else (found.step, found.applied)
