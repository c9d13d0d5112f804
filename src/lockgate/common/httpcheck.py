"""Small HTTP calls to instances and routers on this machine (readiness, probes, admin).

The standard library's client: these run hundreds of times per rollout, and a fresh httpx
client costs tens of milliseconds (it builds an SSL context) where a request costs one.
"""

from __future__ import annotations

import http.client
import json
from typing import Any


class Unreachable(Exception):
    pass


def request(
    address: str, method: str, path: str, body: Any = None, timeout: float = 2.0
) -> tuple[int, bytes]:
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"{address}{path}: {exc}") from None
    finally:
        conn.close()


def status_of(address: str, path: str, timeout: float = 1.0) -> int | None:
    """The HTTP status `address` answers for GET `path`, or None when it does not answer."""
    try:
        return request(address, "GET", path, timeout=timeout)[0]
    except Unreachable:
        return None
