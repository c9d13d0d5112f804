"""A worker's connections leave from the local address it was given (`lockgate worker
--address`): a machine with several addresses (a worker's own on a shared host, a test's
127.0.0.2) says which one the server and the broker see. HTTP goes through httpx's own
`local_address`; Redis through a transport whose connections bind before they connect, which
is all that differs from redis-py's own."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx
from kombu.transport import redis as kombu_redis
from redis.connection import Connection

from ..common.errors import UserError


def checked_address(address: str) -> str:
    """An IP address of this machine to connect from; else a UserError."""
    try:
        ipaddress.ip_address(address)
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
            probe.bind((address, 0))
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot connect from {address!r}: {exc}", where="--address",
                        hint="an IP address of this machine, e.g. 10.0.0.7") from None  # fmt: skip
    return address


def http_transport(address: str | None) -> httpx.HTTPTransport:
    return httpx.HTTPTransport(local_address=address) if address else httpx.HTTPTransport()


def redis_transport(address: str) -> type[kombu_redis.Transport]:
    """kombu's Redis transport, its connections leaving from `address`."""

    class BoundConnection(Connection):
        def _connect(self) -> socket.socket:
            sock = socket.create_connection((self.host, self.port), self.socket_connect_timeout,
                                            source_address=(address, 0))  # fmt: skip
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.socket_keepalive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                for option, value in self.socket_keepalive_options.items():
                    sock.setsockopt(socket.IPPROTO_TCP, option, value)
            sock.settimeout(self.socket_timeout)
            return sock

    class BoundChannel(kombu_redis.Channel):
        connection_class: Any = BoundConnection

    class BoundTransport(kombu_redis.Transport):
        Channel = BoundChannel

    return BoundTransport
