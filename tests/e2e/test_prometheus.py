"""The Prometheus metric provider against a real prometheus scraping the built-in router."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from lockgate.deploy.analysis.judge import FAIL, INCONCLUSIVE, PASS, compare, threshold
from lockgate.deploy.analysis.providers import PrometheusProvider, ProviderError
from lockgate.deploy.envfile import MetricSpec
from lockgate.deploy.traffic.base import Route
from lockgate.deploy.traffic.builtin import BuiltinRouter

from .fleet import free_port
from .prometheus import prometheus

pytestmark = pytest.mark.integration


class Flaky(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        server = self.server
        server.count += 1  # type: ignore[attr-defined]
        failing = server.error_every and server.count % server.error_every == 0  # type: ignore[attr-defined]
        body = b"x"
        self.send_response(500 if failing else 200)
        self.send_header("Content-Length", "1")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _backend(error_every: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    server.error_every = error_every  # type: ignore[attr-defined]
    server.count = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def scraped_router(tmp_path: Path) -> Iterator[tuple[BuiltinRouter, str]]:
    router = BuiltinRouter(tmp_path / "router", free_port())
    router.ensure()
    canary, baseline = _backend(error_every=10), _backend(error_every=0)
    router.apply(
        [
            Route("c", f"127.0.0.1:{canary.server_address[1]}", 1, "canary"),
            Route("b", f"127.0.0.1:{baseline.server_address[1]}", 1, "baseline"),
        ]
    )
    admin = router._info()["admin"]
    stop = threading.Event()

    def load() -> None:
        with httpx.Client() as client:
            while not stop.wait(0.005):  # paced: the CPU stays with what is measured
                client.get(f"http://{router.address}/")

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        with prometheus(tmp_path, [f"127.0.0.1:{admin}"]) as url:
            yield router, url
    finally:
        stop.set()
        loader.join(30)  # before the router stops: no request is cut off mid-answer
        router.stop()
        canary.shutdown()
        baseline.shutdown()


def _metric(query: str) -> MetricSpec:
    return MetricSpec(name="measured", query=query)


def _wait_for_data(provider: PrometheusProvider, query: str) -> None:
    """The first scraped sample shows up seconds after start: poll with a deadline."""
    deadline = time.monotonic() + 60
    while True:
        try:
            value = provider.value(_metric(query), "canary", time.time())
        except ProviderError:
            value = None
        if value is not None and value > 0:
            return
        assert time.monotonic() < deadline, "prometheus never had data"
        time.sleep(0.5)


def test_promql_per_pool_compares_canary_with_baseline(
    scraped_router: tuple[BuiltinRouter, str],
) -> None:
    _, url = scraped_router
    provider = PrometheusProvider(url)
    errors = 'sum(rate(lockgate_router_errors_total{pool="$POOL"}[5s]))'
    requests = 'sum(rate(lockgate_router_requests_total{pool="$POOL"}[5s]))'
    _wait_for_data(provider, requests)
    deadline = time.monotonic() + 60
    while True:  # enough points for a series on each side
        now = time.time()
        canary = provider.series(_metric(errors), "canary", now - 6, now)
        baseline = provider.series(_metric(errors), "baseline", now - 6, now)
        if len(canary) >= 3 and len(baseline) >= 3:
            break
        assert time.monotonic() < deadline, f"series too short: {len(canary)}, {len(baseline)}"
        time.sleep(0.5)
    verdict = compare(
        "errors/s", canary, baseline, statistic="mean", tolerance=0.5, relative=False,
        confidence=0.95, min_samples=3,
    )  # fmt: skip
    assert verdict.verdict == FAIL, verdict.reason
    ratio = f"{errors} / {requests}"
    assert (
        threshold(
            "error ratio", provider.value(_metric(ratio), "baseline", now), "result < 0.01", None
        ).verdict
        == PASS
    )
    assert (
        threshold(
            "error ratio", provider.value(_metric(ratio), "canary", now), "result < 0.01", None
        ).verdict
        == FAIL
    )
    # A wave's side is several pools (its regions) joined by `|`: a regular expression in
    # PromQL, so one query measures them together, and an alarm on them fires.
    together = 'sum(rate(lockgate_router_requests_total{pool=~"$POOL"}[5s]))'
    both = provider.value(_metric(together), "canary|baseline", now)
    each = [provider.value(_metric(together), pool, now) for pool in ("canary", "baseline")]
    assert both is not None and None not in each
    assert both == pytest.approx(sum(v for v in each if v is not None), rel=1e-6)
    alarm = f"{errors.replace('pool=', 'pool=~')} / {together}"
    fired = provider.value(_metric(alarm), "canary|baseline", now)
    assert threshold("alarm", fired, None, "result > 0.01").verdict == FAIL
    missing = provider.value(
        _metric('sum(lockgate_router_requests_total{pool="nothing"})'), "canary", now
    )
    assert threshold("missing", missing, "result < 1", None).verdict == INCONCLUSIVE
    with pytest.raises(ProviderError):
        PrometheusProvider(f"http://127.0.0.1:{free_port()}").value(_metric("up"), "canary", now)
    with pytest.raises(ProviderError):
        provider.value(_metric("sum("), "canary", now)  # a bad query is an error, never a pass
