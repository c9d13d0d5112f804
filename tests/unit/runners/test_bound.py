"""`lockgate worker --address`: only an address of this machine is taken, and connections made
through the bound transports leave from it (a real listening socket sees the source)."""

from __future__ import annotations

import socket
import threading

import pytest

from lockgate.common.errors import UserError
from lockgate.runners.bound import checked_address, http_transport, redis_transport


@pytest.mark.parametrize("address", ["192.0.2.7", "not-an-address", "127.0.0.1:80", ""])
def test_an_address_this_machine_lacks_is_refused(address: str) -> None:
    with pytest.raises(UserError, match="cannot connect from") as refused:
        checked_address(address)
    assert refused.value.where == "--address"


def _accepting() -> tuple[socket.socket, list[str], threading.Thread]:
    """A listener on 127.0.0.1 that notes where its one connection came from."""
    listener = socket.create_server(("127.0.0.1", 0))
    sources: list[str] = []

    def accept() -> None:
        connection, (host, _) = listener.accept()
        sources.append(host)
        connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return listener, sources, thread


def test_redis_connections_leave_from_the_address() -> None:
    listener, sources, accepted = _accepting()
    connection_class = redis_transport(checked_address("127.0.0.3")).Channel.connection_class
    made = connection_class(host="127.0.0.1", port=listener.getsockname()[1])
    made._connect().close()
    accepted.join(10)
    listener.close()
    assert sources == ["127.0.0.3"]


def test_http_leaves_from_the_address() -> None:
    import httpx

    listener, sources, accepted = _accepting()
    client = httpx.Client(transport=http_transport("127.0.0.4"), timeout=5)
    with client, pytest.raises(httpx.HTTPError):  # the listener hangs up without an answer
        client.get(f"http://127.0.0.1:{listener.getsockname()[1]}/")
    accepted.join(10)
    listener.close()
    assert sources == ["127.0.0.4"]
