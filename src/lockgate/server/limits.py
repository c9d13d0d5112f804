"""How much of a request the server reads, and for how long: every body is capped and
timed, whatever its endpoint, by the ASGI middleware below (so a new route cannot forget it):
a declared length past MAX_BODY is refused before anything is read, and a body streamed
without one (chunked) is counted as it arrives and refused the moment it passes the cap. A
client that sends its body slower than BODY_SECONDS allows is cut off (408)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 5 << 20  # bytes; GitHub caps payloads at 25 MB, but run-triggering ones are small
BODY_SECONDS = 60.0  # for the whole body to arrive
log = logging.getLogger("lockgate.server")


def _setting(name: str, default: float) -> float:
    """LOCKGATE_MAX_BODY (bytes) or LOCKGATE_BODY_SECONDS, when set to a positive number."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


class BoundedBodies:
    """Refuses a body past `limit` bytes (413) or slower than `seconds` (408), from inside
    the read: the route's read raises HTTPException, which the app answers as usual."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.limit = int(_setting("LOCKGATE_MAX_BODY", MAX_BODY))
        self.seconds = _setting("LOCKGATE_BODY_SECONDS", BODY_SECONDS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await _refuse(send, 413, f"the body is larger than {self.limit} bytes")
            return
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        received, whole = 0, False

        async def bounded() -> Message:
            nonlocal deadline, received, whole
            if whole:  # after the body: a response waiting for the client to go (a stream)
                return await receive()
            deadline = deadline or loop.time() + self.seconds
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.001))
            except TimeoutError:
                raise HTTPException(408, f"the body took more than {self.seconds:g}s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, f"the body is larger than {self.limit} bytes")
                whole = not message.get("more_body", False)
            else:
                whole = True
            return message

        await self.app(scope, bounded, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def gone(request: Request, _exc: Any) -> Response:
    """A client that went away mid-request: one line in the log, not a traceback."""
    log.warning("%s %s: the client went away before its request was read",
                request.method, request.url.path)  # fmt: skip
    return Response(status_code=400)
