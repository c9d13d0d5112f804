"""Free TCP ports, handed out once across the processes of this machine."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator

from .runtime import runtime_dir

RESERVED_SECONDS = 60.0  # how long a port handed out is kept from others: time to bind it
PORTS_FILE = "ports.json"
_handed_out: dict[str, float] = {}  # where the runtime directory cannot be used: this process's


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now and that nobody on this machine
    was handed in the last RESERVED_SECONDS. The kernel offers a port that was just probed to
    the next asker, so two instances started side by side could otherwise both get it before
    either binds it; reservations are shared through a locked file in the runtime directory."""
    with _reservations() as taken:
        now = time.time()
        for stale in [key for key, at in taken.items() if now - at > RESERVED_SECONDS]:
            del taken[stale]
        for _ in range(100):
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = int(probe.getsockname()[1])
            if f"{host}:{port}" not in taken:
                break
        taken[f"{host}:{port}"] = now
        return port


@contextlib.contextmanager
def _reservations() -> Iterator[dict[str, float]]:
    """The ports handed out lately ("host:port" -> when), under an exclusive lock, saved after."""
    try:
        path = os.path.join(runtime_dir(), PORTS_FILE)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the lock's life)
    except OSError:  # no private runtime directory: this process's reservations only
        yield _handed_out
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        try:
            loaded = json.loads(handle.read() or "{}")
            taken = {str(k): float(v) for k, v in loaded.items()}
        except (ValueError, TypeError, AttributeError):
            taken = {}  # a damaged file only loses old reservations
        yield taken
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(taken))
