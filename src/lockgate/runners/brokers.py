"""Broker URLs as a user gives them: checked before anything connects, and shown without their
password. Apart from the Celery application so that a server without a broker never loads
Celery to say so."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..common.errors import UserError


def checked_broker(url: str, where: str) -> str:
    """A broker URL lockgate can use (Redis; RabbitMQ's amqp works too), else a UserError."""
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "amqp", "amqps") or not urlsplit(url).hostname:
        raise UserError(f"{redacted(url)!r} is not a broker URL", where=where,
                        hint="e.g. redis://localhost:6379/0 (redis-server) or "
                        "amqp://guest@localhost// (RabbitMQ)")  # fmt: skip
    return url


def redacted(url: str) -> str:
    """The URL without its password, to show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
