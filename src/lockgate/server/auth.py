"""Who is calling: an API token (`Authorization: Bearer`), or the web UI's session cookie.

A session is made by logging in with a token: the cookie holds the token's digest, an expiry
and an HMAC of both under the server's session key, so a revoked token ends its sessions too.
Cookies make forged cross-site requests possible, so every unsafe request that a cookie
authenticates must carry the CSRF token: an HMAC of the browser's `lockgate_csrf` cookie, sent
as the `X-CSRF-Token` header or a `csrf` form field (signed double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response

from ..store.access import Access, Role, Token

SESSION = "lockgate_session"
CSRF_COOKIE = "lockgate_csrf"
SESSION_SECONDS = 12 * 3600
SAFE = ("GET", "HEAD", "OPTIONS")


class Keys:
    """The server's session key and what it signs."""

    def __init__(self, key: bytes, access: Access) -> None:
        self.key, self.access = key, access

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def session(self, raw_token: str) -> str | None:
        """A session cookie for this token, or None when the token is not valid."""
        if self.access.holder(raw_token) is None:
            return None
        body = (
            f"{hashlib.sha256(raw_token.encode()).hexdigest()}.{int(time.time()) + SESSION_SECONDS}"
        )
        return f"{body}.{self._mac(body)}"

    def session_holder(self, cookie: str) -> Token | None:
        digest, _, rest = cookie.partition(".")
        expires, _, mac = rest.partition(".")
        if not expires.isdigit() or int(expires) < time.time():
            return None
        if not hmac.compare_digest(mac, self._mac(f"{digest}.{expires}")):
            return None
        return self.access.holder_by_digest(digest)

    def csrf(self, request: Request) -> str:
        """The CSRF token for this browser's pages (its cookie is set by `ensure_csrf`)."""
        return self._mac("csrf:" + csrf_cookie(request))

    def csrf_ok(self, request: Request, given: str) -> bool:
        seed = request.cookies.get(CSRF_COOKIE, "")
        return bool(seed) and hmac.compare_digest(given, self._mac("csrf:" + seed))


def csrf_cookie(request: Request) -> str:
    """The browser's CSRF seed: its cookie, or a new one this response will set."""
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if seed is None:
        seed = request.state.new_csrf = secrets.token_urlsafe(24)
    return str(seed)


def ensure_csrf(request: Request, response: Response) -> None:
    seed = getattr(request.state, "new_csrf", None)
    if seed is not None and CSRF_COOKIE not in request.cookies:
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="strict")


def caller(request: Request) -> Token | None:
    """The token or session behind this request, if any (CSRF checked for a session)."""
    keys: Keys = request.app.state.keys
    raw = request.headers.get("authorization", "")
    if raw.startswith("Bearer "):
        return keys.access.holder(raw.removeprefix("Bearer ").strip())
    cookie = request.cookies.get(SESSION)
    if not cookie:
        return None
    holder = keys.session_holder(cookie)
    if holder is not None and request.method not in SAFE:
        given = request.headers.get("x-csrf-token", "")
        if not keys.csrf_ok(request, given):
            raise HTTPException(403, "the CSRF token is missing or wrong; reload the page")
    return holder


def _needs(least: Role) -> object:
    def check(request: Request) -> Token:
        holder = caller(request)
        if holder is None:
            raise HTTPException(401, "an API token is required (Authorization: Bearer ...)")
        if holder.role < least:
            raise HTTPException(403, f"this needs the {least.name.lower()} role")
        return holder

    return Depends(check)


Viewer = Annotated[Token, _needs(Role.VIEWER)]
Operator = Annotated[Token, _needs(Role.OPERATOR)]
Admin = Annotated[Token, _needs(Role.ADMIN)]
