"""lockgate's built-in router: an asyncio HTTP/1.1 reverse proxy with weighted backends.

Run as `python -m lockgate.deploy.traffic.proxy --listen PORT --admin PORT --state FILE`.
Traffic goes to backends with weight > 0 by smooth weighted round-robin (the same spread
nginx gives). Connections are kept alive on both sides. A backend that refuses a connection is
skipped and an idempotent request retried on another, so a stopped instance never costs a
request. The admin port (127.0.0.1) serves:
  GET /backends, PUT /backends (replace all, atomically), GET /stats, GET /metrics (Prometheus).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
}
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
MAX_HEAD = 64 * 1024
# Said by a router that had no backend for a request (nothing was served): a router in front
# of it (the global router of a multi-region environment) retries the request elsewhere.
UNROUTED = b"X-Lockgate-Unrouted: 1\r\n"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class BadRequest(Exception):
    pass


@dataclass
class Backend:
    id: str
    host: str
    port: int
    weight: int
    pool: str
    current: int = 0  # smooth weighted round-robin state
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    requests: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": f"{self.host}:{self.port}",
            "weight": self.weight,
            "pool": self.pool,
            "requests": self.requests,
        }


@dataclass
class PoolStats:
    requests: int = 0
    errors: int = 0  # 5xx answers and requests no backend could take
    latency_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    recent: deque[tuple[float, float, bool]] = field(default_factory=lambda: deque(maxlen=20000))

    def record(self, seconds: float, failed: bool) -> None:
        self.requests += 1
        self.errors += failed
        self.latency_sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1
        self.recent.append((time.time(), seconds, failed))


class Router:
    def __init__(self, state_file: Path, fallback: bool = False) -> None:
        self.state_file = state_file
        # When no backend with weight can take a request, try those without: for the global
        # router of a multi-region environment, whose idle regions are a better answer than a
        # 502 in the moment before a failing region is drained. Never for a fleet's router,
        # where weight 0 is an instance that must not serve (an old version kept on standby).
        self.fallback = fallback
        self.backends: dict[str, Backend] = {}
        self.pools: dict[str, PoolStats] = {}
        self.unrouted = PoolStats()  # requests that found no backend
        if state_file.exists():
            self.configure(json.loads(state_file.read_text()), persist=False)

    # -- configuration ---------------------------------------------------------------------
    def configure(self, entries: list[dict[str, Any]], persist: bool = True) -> None:
        fresh: dict[str, Backend] = {}
        for entry in entries:
            host, _, port = str(entry["address"]).rpartition(":")
            old = self.backends.get(str(entry["id"]))
            backend = Backend(
                str(entry["id"]),
                host,
                int(port),
                int(entry["weight"]),
                str(entry.get("pool", "default")),
            )
            if old is not None and (old.host, old.port) == (backend.host, backend.port):
                backend.idle, backend.requests = old.idle, old.requests
            fresh[backend.id] = backend
            self.pools.setdefault(backend.pool, PoolStats())
        for gone in self.backends.keys() - fresh.keys():
            self.close_idle(self.backends[gone])
        self.backends = fresh  # one assignment: requests see the old set or the new one
        if persist:
            temp = self.state_file.with_suffix(".tmp")
            temp.write_text(json.dumps([b.public() for b in fresh.values()]))
            os.replace(temp, self.state_file)

    @staticmethod
    def close_idle(backend: Backend) -> None:
        for _, writer in backend.idle:
            writer.close()
        backend.idle.clear()

    def pick(self, exclude: set[str]) -> Backend | None:
        """Smooth weighted round-robin over backends with weight > 0."""
        live = [b for b in self.backends.values() if b.weight > 0 and b.id not in exclude]
        if not live and self.fallback:
            idle = [b for b in self.backends.values() if b.id not in exclude]
            return idle[0] if idle else None
        if not live:
            return None
        total = sum(b.weight for b in live)
        for b in live:
            b.current += b.weight
        best = max(live, key=lambda b: b.current)
        best.current -= total
        return best

    # -- serving ---------------------------------------------------------------------------
    async def serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await _simple(writer, 431, "request head too large")
                    return
                try:
                    method, target, version, headers = _parse_head(head)
                    body = await _read_body(reader, headers)
                except BadRequest as exc:
                    await _simple(writer, 400, str(exc))
                    return
                keep = _keep_alive(version, headers)
                headers = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
                headers.append(("X-Forwarded-For", str(peer[0]) if peer else "unknown"))
                closed = await self.forward(method, target, headers, body, writer)
                if closed or not keep:
                    return
        finally:
            writer.close()

    async def forward(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        client: asyncio.StreamWriter,
    ) -> bool:
        """Send one request to a backend and stream the answer; True when the client
        connection must close afterwards."""
        started = time.perf_counter()
        tried: set[str] = set()
        while True:
            backend = self.pick(tried)
            if backend is None:
                self.unrouted.record(time.perf_counter() - started, True)
                await _simple(
                    client, 502 if tried else 503, "no backend could take the request", UNROUTED
                )
                return False
            tried.add(backend.id)
            stats = self.pools.setdefault(backend.pool, PoolStats())
            try:
                up_reader, up_writer, reused = await self.connection(backend)
            except OSError:
                continue  # refused: try another backend, nothing was sent yet
            up_writer.write(_request_head(method, target, headers, body, backend))
            try:
                up_writer.write(body)
                await up_writer.drain()
                status, response_head, length, chunked, upstream_keep = await _read_response_head(
                    up_reader
                )
            except (OSError, asyncio.IncompleteReadError, BadRequest):
                up_writer.close()
                if reused:  # the backend had closed that idle connection: not its fault
                    tried.discard(backend.id)
                    self.close_idle(backend)
                if method in IDEMPOTENT or reused:
                    continue  # it died under us before answering: another backend may
                stats.record(time.perf_counter() - started, True)
                await _simple(client, 502, "the backend closed the connection")
                return False
            if status >= 500 and UNROUTED in response_head:
                up_writer.close()  # a router behind us had no backend: it served nothing,
                continue  # so another backend (another region) takes it
            backend.requests += 1
            client.write(response_head)
            try:
                reusable = await _copy_body(up_reader, client, method, status, length, chunked)
            except (OSError, asyncio.IncompleteReadError):
                up_writer.close()
                stats.record(time.perf_counter() - started, True)
                return True
            stats.record(time.perf_counter() - started, status >= 500)
            if reusable and upstream_keep and backend.id in self.backends:
                backend.idle.append((up_reader, up_writer))
            else:
                up_writer.close()
            return length is None and not chunked and method != "HEAD" and status not in (204, 304)

    async def connection(
        self, backend: Backend
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """An idle kept-alive connection (reused: True), else a new one."""
        while backend.idle:
            reader, writer = backend.idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(backend.host, backend.port), 5
        )
        return reader, writer, False

    # -- admin -----------------------------------------------------------------------------
    async def serve_admin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _, headers = _parse_head(head)
            body = await _read_body(reader, headers)
            status, kind, payload = self.admin(method, target, body)
        except (BadRequest, ValueError, KeyError, TypeError) as exc:
            status, kind, payload = 400, "text/plain", f"{exc}\n".encode()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()
            return
        writer.write(
            f"HTTP/1.1 {status} OK\r\nContent-Type: {kind}\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + payload
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    def admin(self, method: str, target: str, body: bytes) -> tuple[int, str, bytes]:
        path = target.split("?")[0]
        if path == "/backends" and method == "PUT":
            entries = json.loads(body)
            if not isinstance(entries, list):
                raise ValueError("PUT /backends takes a JSON list")
            self.configure(entries)
            return 200, "application/json", b"{}"
        if path == "/backends":
            return (
                200,
                "application/json",
                json.dumps([b.public() for b in self.backends.values()]).encode(),
            )
        if path == "/stats":
            query = dict(p.split("=", 1) for p in target.partition("?")[2].split("&") if "=" in p)
            since = float(query["since"]) if "since" in query else None
            return 200, "application/json", json.dumps(self.stats(since)).encode()
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4", self.metrics().encode()
        return 404, "text/plain", b"not found\n"

    def stats(self, since: float | None = None) -> dict[str, Any]:
        """Counters per pool; with `since` (epoch seconds), also each request after it as
        [time, seconds, failed], the raw samples canary analysis compares."""
        pools: dict[str, dict[str, Any]] = {}
        for name, p in self.pools.items():
            pools[name] = {"requests": p.requests, "errors": p.errors, "latency_sum": p.latency_sum}
            if since is not None:
                pools[name]["samples"] = [[t, s, f] for t, s, f in p.recent if t >= since]
        return {
            "backends": [b.public() for b in self.backends.values()],
            "pools": pools,
            "unrouted": self.unrouted.requests,
        }

    def metrics(self) -> str:
        lines = [
            "# TYPE lockgate_router_requests_total counter",
            "# TYPE lockgate_router_errors_total counter",
            "# TYPE lockgate_router_request_seconds histogram",
        ]
        for name, p in self.pools.items():
            label = f'pool="{name}"'
            lines.append(f"lockgate_router_requests_total{{{label}}} {p.requests}")
            lines.append(f"lockgate_router_errors_total{{{label}}} {p.errors}")
            for bound, count in zip(LATENCY_BUCKETS, p.buckets, strict=True):
                lines.append(
                    f'lockgate_router_request_seconds_bucket{{{label},le="{bound}"}} {count}'
                )
            lines.append(
                f'lockgate_router_request_seconds_bucket{{{label},le="+Inf"}} {p.requests}'
            )
            lines.append(f"lockgate_router_request_seconds_sum{{{label}}} {p.latency_sum}")
            lines.append(f"lockgate_router_request_seconds_count{{{label}}} {p.requests}")
        for b in self.backends.values():
            labels = f'backend="{b.id}",pool="{b.pool}"'
            lines.append(f"lockgate_router_backend_requests_total{{{labels}}} {b.requests}")
            lines.append(f"lockgate_router_backend_weight{{{labels}}} {b.weight}")
        return "\n".join(lines) + "\n"


# -- HTTP/1.1 pieces ---------------------------------------------------------------------------
def _request_head(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, backend: Backend
) -> bytes:
    """The request line and headers as the backend gets them; the body is re-framed with a
    Content-Length (a chunked request body was read whole)."""
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
    if not any(k.lower() == "host" for k, _ in kept):
        kept.append(("Host", f"{backend.host}:{backend.port}"))
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        kept.append(("Content-Length", str(len(body))))
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in kept)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"malformed request line {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip()))
    return parts[0], parts[1], parts[2], headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _keep_alive(version: str, headers: list[tuple[str, str]]) -> bool:
    connection = (_header(headers, "connection") or "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    if "chunked" in (_header(headers, "transfer-encoding") or "").lower():
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # (trailers are not forwarded)
                return body
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    length = _header(headers, "content-length")
    if length is None:
        return b""
    if not length.isdigit():
        raise BadRequest(f"bad Content-Length {length!r}")
    return await reader.readexactly(int(length))


async def _read_response_head(
    reader: asyncio.StreamReader,
) -> tuple[int, bytes, int | None, bool, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise BadRequest(f"malformed status line {lines[0][:80]!r}")
    headers = [tuple(line.split(":", 1)) for line in lines[1:] if ":" in line]
    pairs = [(k, v.strip()) for k, v in headers]
    length_text = _header(pairs, "content-length")
    chunked = "chunked" in (_header(pairs, "transfer-encoding") or "").lower()
    keep = _keep_alive(parts[0], pairs)
    kept = [(k, v) for k, v in pairs if k.lower() not in HOP_BY_HOP]
    out = lines[0].encode("latin-1") + b"\r\n"
    out += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in kept)
    if length_text is None and not chunked:
        out += b"Connection: close\r\n"
    out += b"\r\n"
    length = int(length_text) if length_text and length_text.isdigit() else None
    return int(parts[1]), out, length, chunked, keep


async def _copy_body(
    reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    method: str,
    status: int,
    length: int | None,
    chunked: bool,
) -> bool:
    """Stream the response body; True when the upstream connection can be reused."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        await client.drain()
        return True
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            client.write(size_line)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    trailer = await reader.readuntil(b"\r\n")
                    client.write(trailer)
                    if trailer == b"\r\n":
                        break
                await client.drain()
                return True
            client.write(await reader.readexactly(size + 2))
            await client.drain()
    if length is not None:
        remaining = length
        while remaining:
            chunk = await reader.read(min(remaining, 1 << 16))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", remaining)
            client.write(chunk)
            remaining -= len(chunk)
            await client.drain()
        return True
    while chunk := await reader.read(1 << 16):  # delimited by close
        client.write(chunk)
        await client.drain()
    return False


async def _simple(writer: asyncio.StreamWriter, status: int, text: str, extra: bytes = b"") -> None:
    body = (text + "\n").encode()
    writer.write(
        f"HTTP/1.1 {status} lockgate\r\nContent-Type: text/plain\r\n".encode()
        + extra
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()


ORPHAN_CHECK_SECONDS = 1.0


async def main(listen: int, admin: int, state: Path, host: str, fallback: bool) -> None:
    router = Router(state, fallback)
    public = await asyncio.start_server(
        router.serve_client, host, listen, limit=MAX_HEAD, backlog=1024
    )
    control = await asyncio.start_server(router.serve_admin, "127.0.0.1", admin, limit=MAX_HEAD)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with public, control:
        # Its environment's directory deleted (the repository removed): no one can reach or
        # stop this router any more, so it stops itself.
        while state.parent.is_dir():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ORPHAN_CHECK_SECONDS)
                return


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="lockgate's built-in router")
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--admin", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fallback", action="store_true", help="see Router.fallback")
    args = parser.parse_args()
    asyncio.run(main(args.listen, args.admin, args.state, args.host, args.fallback))
