"""How much of a request the server reads: every body is capped, whatever its endpoint (the
app's middleware refuses a declared length past MAX_BODY; read_body caps what is streamed)."""

from __future__ import annotations

from fastapi import HTTPException, Request

MAX_BODY = 5 << 20  # bytes; GitHub caps payloads at 25 MB, but run-triggering ones are small


async def read_body(request: Request) -> bytes:
    """The request body, refused (413) past MAX_BODY without reading the rest."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, f"the body is larger than {MAX_BODY} bytes")
    return bytes(body)
