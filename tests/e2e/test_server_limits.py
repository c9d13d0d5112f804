"""Bounded input: every route of the app's own route table is sent a body far past the cap,
chunked (no Content-Length), by a real client socket, and answers before much of it was sent;
a slow body is cut off; a client that goes away is one line in the log, not a traceback."""

from __future__ import annotations

import re
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
from starlette.routing import BaseRoute, Route

from lockgate.server.app import ServerConfig, create_app
from lockgate.server.doorbell import Doorbell
from lockgate.store import Store

from .fleet import eventually
from .serving import Server, bearer, start_server

CAP = 64 << 10  # the server's cap in this test (LOCKGATE_MAX_BODY): bytes
SENT_AT_MOST = 24 << 20  # a route must have answered before this much was sent
CHUNK = b"a" * (64 << 10)
ANSWERS = range(200, 500)  # anything but a server error, once it answered


def routes(tmp_path: Path) -> list[tuple[str, str]]:
    """(method, path) of every route the server has, path parameters filled in."""
    config = ServerConfig(tmp_path / "probe", b"s", "t", b"k" * 32, None)
    app = create_app(config, Store(f"sqlite:///{tmp_path / 'probe.db'}"), Doorbell())
    found = []
    for route in _walk(app.routes):
        if route.methods:
            path = re.sub(r"\{[^}:]+(:int)?\}", "1", route.path)
            path = re.sub(r"\{[^}]+:path\}", "x/y", path)
            found += [(method, path) for method in sorted(route.methods) if method != "HEAD"]
    return found


def _walk(routes: list[BaseRoute]) -> Iterator[Route]:
    """Every route, those of included routers too (FastAPI includes them lazily)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _walk(included.routes)
        elif isinstance(route, Route):
            yield route


def _create_flag(server: Server) -> None:
    made = httpx.post(f"{server.url}/api/v1/flags", json={"name": "late"},
                      headers=bearer(server.token))  # fmt: skip
    assert made.status_code == 201, made.text


def send_chunked(port: int, method: str, path: str, token: str) -> tuple[int, int]:
    """The status of a chunked body sent until the server answers; and how much was sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .encode())  # fmt: skip
        sent = 0
        chunk = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
        while sent < SENT_AT_MOST * 2:
            readable, _, _ = select.select([conn], [], [], 0)
            if readable:
                break
            try:
                conn.sendall(chunk)
            except OSError:  # the server answered and closed: its answer is waiting
                break
            sent += len(CHUNK)
        answer = conn.recv(200).decode(errors="replace")
    return int(answer.split(" ", 2)[1]) if answer.startswith("HTTP/1.1 ") else 0, sent


def test_every_route_caps_a_chunked_body_and_a_slow_one_and_a_gone_client_is_one_line(
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.log"
    server = start_server(tmp_path / "home", 0, log=log, direct=True, LOCKGATE_MAX_BODY=str(CAP),
                          LOCKGATE_BODY_SECONDS="1")  # fmt: skip
    try:
        table = routes(tmp_path)
        assert len(table) > 60  # the whole app, not a sample
        unbounded = []
        for method, path in table:
            status, sent = send_chunked(server.port, method, path, server.token)
            if status not in ANSWERS or sent >= SENT_AT_MOST:
                unbounded.append(f"{method} {path}: {status} after {sent >> 20} MiB")
        assert unbounded == []
        rss = int(re.findall(r"VmRSS:\s+(\d+)", Path(f"/proc/{server.process.pid}/status")
                             .read_text())[0])  # fmt: skip
        assert rss < 200 << 10, f"{rss} KiB"

        # a body that trickles: cut off once its time is up (408)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
            slow.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n"
                         b"Authorization: Bearer " + server.token.encode() + b"\r\n\r\n{")  # fmt: skip
            assert slow.recv(100).startswith(b"HTTP/1.1 408 ")

        # the limit is on the body: a stream answered after it stays open past the deadline
        url, key = f"{server.url}/api/client/stream", {"Authorization": f"prod.{server.token}"}
        change = threading.Timer(1.5, _create_flag, args=(server,))  # after a body's 1 s
        ids = []
        with httpx.stream("GET", url, headers=key, timeout=30) as events:
            change.start()
            for line in events.iter_lines():
                ids += [line] if line.startswith("id:") else []
                if len(ids) == 2:
                    break
        change.join()
        assert len(ids) == 2, ids  # the revision at once, and the change 1.5 s later

        # a client that goes away mid-body: one line, no traceback
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as gone:
            gone.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n"
                         b"\r\n{\"partial\": ")  # fmt: skip
        eventually(lambda: "went away" in log.read_text(), 20, "the departure logged")
        said = log.read_text()
        assert "Traceback" not in said and said.count("went away") == 1, said
    finally:
        server.process.kill()
        server.process.wait()
