"""Bounded input: a real client sends up to 1 GiB, chunked (no Content-Length), to every route
of `lockgate serve`'s API description and every webhook, as fast as it can, until the server
answers. Reported: the server's peak memory (VmHWM) against its memory at rest before the
first byte (the baseline, same run; target: under 200 MB whatever is sent), and the most any
route let through before it answered.

Usage: python benchmarks/server_limits.py [--gib 1]
"""

from __future__ import annotations

import argparse
import json
import re
import select
import socket
import tempfile
from pathlib import Path

import httpx
from common import api_token, rss_kib, serving

CHUNK = b"a" * (1 << 20)


def send(port: int, method: str, path: str, token: str, limit: int) -> tuple[str, int]:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(f"{method} {path} HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer {token}\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .encode())  # fmt: skip
        sent, framed = 0, f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
        while sent < limit and not select.select([conn], [], [], 0)[0]:
            try:
                conn.sendall(framed)
            except OSError:
                break
            sent += len(CHUNK)
        return conn.recv(40).decode(errors="replace").split("\r\n")[0], sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    args = parser.parse_args()
    limit = int(args.gib * (1 << 30))
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        db = f"sqlite:///{Path(scratch) / 'b.db'}"
        token = api_token(home, "bench", "admin", "--db", db)
        with serving(home, 0, "--db", db, env={}) as url:
            rest = rss_kib(url)
            described = httpx.get(f"{url}/openapi.json").json()["paths"]
            routes = [(m.upper(), re.sub(r"\{[^}]+\}", "1", p))
                      for p, ops in described.items() for m in ops]  # fmt: skip
            routes += [("POST", f"/webhooks/{f}") for f in ("github", "gitea", "gitlab")]
            port = int(url.rsplit(":", 1)[1])
            worst, answers = 0, {}
            for method, path in routes:
                status, sent = send(port, method, path, token, limit)
                worst = max(worst, sent)
                answers[status] = answers.get(status, 0) + 1
            peak = rss_kib(url, "VmHWM")
    print(json.dumps({
        "routes": len(routes), "offered_per_route_mib": limit >> 20,
        "most_sent_before_an_answer_mib": worst >> 20,
        "rss_at_rest_mib": round(rest / 1024, 1), "peak_rss_mib": round(peak / 1024, 1),
        "peak_ratio_to_rest": round(peak / rest, 2), "answers": answers,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
