"""The router against real backends: weights, keep-alive, failover, bodies, metrics."""

from __future__ import annotations

import collections
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from lockgate.deploy.traffic.base import Route, Router
from lockgate.deploy.traffic.builtin import BuiltinRouter
from lockgate.deploy.traffic.haproxy import HAProxyRouter

from ..conftest import need
from .fleet import free_port

pytestmark = pytest.mark.integration


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def do_GET(self) -> None:
        if self.path == "/stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one,", b"two,", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/fail":
            return self.reply(503, b"down")
        self.reply(200, self.server.name.encode())  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.reply(200, b"got " + body)

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # routers close idle keep-alive connections; that is not a test failure


@pytest.fixture
def backends() -> Iterator[dict[str, ThreadingHTTPServer]]:
    servers = {}
    for name in ("a", "b", "c"):
        server = QuietServer(("127.0.0.1", 0), Echo)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[name] = server
    yield servers
    for server in servers.values():
        server.shutdown()


@pytest.fixture(params=["builtin", "haproxy"])
def router(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Router]:
    """The same tests run against the built-in router and a real haproxy."""
    chosen: Router
    if request.param == "haproxy":
        need(shutil.which("haproxy") is not None, "haproxy is not installed")
        chosen = HAProxyRouter(tmp_path / "router", free_port())
    else:
        chosen = BuiltinRouter(tmp_path / "router", free_port())
    chosen.ensure()
    yield chosen
    chosen.stop()


def _route(name: str, server: ThreadingHTTPServer, weight: int, pool: str = "stable") -> Route:
    return Route(name, f"127.0.0.1:{server.server_address[1]}", weight, pool)


def test_weights_split_traffic_and_changes_are_atomic(
    router: Router, backends: dict[str, ThreadingHTTPServer]
) -> None:
    router.apply([_route("a", backends["a"], 3), _route("b", backends["b"], 1, "canary")])
    url = f"http://{router.address}/"
    with httpx.Client() as client:  # one keep-alive connection for all of them
        seen = collections.Counter(client.get(url).text for _ in range(400))
    assert seen == {"a": 300, "b": 100}
    router.apply([_route("c", backends["c"], 1)])
    with httpx.Client() as client:
        assert {client.get(url).text for _ in range(20)} == {"c"}
    table = {row.id: row for row in router.table()}
    assert set(table) == {"c"} and table["c"].requests == 20
    stats = router.stats()["pools"]
    assert stats["stable"]["requests"] == 320 and stats["canary"]["requests"] == 100
    if isinstance(router, BuiltinRouter):
        admin = router._info()["admin"]
        metrics = httpx.get(f"http://127.0.0.1:{admin}/metrics").text
        assert 'lockgate_router_requests_total{pool="canary"} 100' in metrics
        assert 'lockgate_router_request_seconds_bucket{pool="stable",le="+Inf"} 320' in metrics


def test_a_dead_backend_costs_no_request(
    router: Router, backends: dict[str, ThreadingHTTPServer]
) -> None:
    dead_port = free_port()
    router.apply(
        [_route("a", backends["a"], 1), Route("dead", f"127.0.0.1:{dead_port}", 1, "stable")]
    )
    answers = [httpx.get(f"http://{router.address}/").text for _ in range(50)]
    assert answers == ["a"] * 50
    router.apply([])
    empty = httpx.get(f"http://{router.address}/")
    assert empty.status_code == 503


def test_bodies_streams_and_errors_pass_through(
    router: Router, backends: dict[str, ThreadingHTTPServer]
) -> None:
    router.apply([_route("a", backends["a"], 1)])
    base = f"http://{router.address}"
    assert httpx.post(f"{base}/echo", content=b"payload").text == "got payload"
    assert httpx.get(f"{base}/stream").text == "one,two,three"
    failed = httpx.get(f"{base}/fail")
    assert failed.status_code == 503 and failed.text == "down"
    assert router.stats()["pools"]["stable"]["errors"] == 1
    raw = httpx.get(f"{base}/", headers={"Connection": "close"})
    assert raw.text == "a"


def test_the_router_keeps_its_table_across_a_restart(
    router: Router, backends: dict[str, ThreadingHTTPServer]
) -> None:
    router.apply([_route("b", backends["b"], 1)])
    router.stop()
    router.ensure()
    assert httpx.get(f"http://{router.address}/").text == "b"


class Forgetful(BaseHTTPRequestHandler):
    """Answers, then drops the connection without saying so: a stale keep-alive connection."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        self.close_connection = True

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def test_a_backend_that_drops_idle_connections_costs_no_request(router: Router) -> None:
    server = QuietServer(("127.0.0.1", 0), Forgetful)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        router.apply([_route("only", server, 1)])
        with httpx.Client() as client:
            answers = [client.get(f"http://{router.address}/").status_code for _ in range(30)]
            answers += [client.post(f"http://{router.address}/", content=b"x").status_code]
        assert answers == [200] * 31
    finally:
        server.shutdown()


def test_a_router_in_front_of_routers_retries_where_one_had_no_backend(
    tmp_path: Path, backends: dict[str, ThreadingHTTPServer]
) -> None:
    """The global router of a multi-region environment: a region whose router has no
    instance to give a request (a POST too: nothing was served) costs no request, even when
    the regions left have no weight (until the failing one is drained); a 502 only when no
    region can take it."""
    regions = [BuiltinRouter(tmp_path / name, free_port()) for name in ("empty", "full")]
    front = BuiltinRouter(tmp_path / "global", free_port(), fallback=True)
    try:
        for one in (*regions, front):
            one.ensure()
        empty, full = regions
        full.apply([_route("a", backends["a"], 1)])
        front.apply([Route(r.directory.name, r.address, 1, r.directory.name) for r in regions])
        with httpx.Client() as client:
            gets = [client.get(f"http://{front.address}/").text for _ in range(40)]
            post = client.post(f"http://{front.address}/", content=b"order")
        assert gets == ["a"] * 40 and post.text == "got order"
        assert {row.id: row.requests for row in front.table()} == {"empty": 0, "full": 41}
        front.apply(
            [Route("empty", empty.address, 1, "empty"), Route("full", full.address, 0, "full")]
        )
        assert httpx.get(f"http://{front.address}/").text == "a"  # the idle region took it
        full.apply([])
        nowhere = httpx.get(f"http://{front.address}/")
        assert nowhere.status_code == 502 and "no backend" in nowhere.text
    finally:
        for one in (*regions, front):
            one.stop()
