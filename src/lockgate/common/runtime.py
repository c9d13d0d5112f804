"""Sockets and ports on this machine. A private directory for sockets: $XDG_RUNTIME_DIR,
else /tmp/lockgate-UID (mode 0700).

Unix socket paths are limited to about 100 bytes, so sockets cannot live under a repository's
.lockgate/ when the repository is deep in the file system. Standard library only: the
launcher imports it before anything else.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import time
from collections.abc import Iterator


class NotPrivate(OSError):
    """The runtime directory could be used by someone else: it is never used then."""


SOCKET_PATH_MAX = 107  # bytes a Unix socket path may have (sun_path, with its NUL: 108)
BIND_SUFFIX = len(".4194304")  # a server binds PATH.PID first, then renames it to PATH


def runtime_dir(directory: str | None = None) -> str:
    """The caller's own directory for sockets ($XDG_RUNTIME_DIR, else /tmp/lockgate-UID):
    created 0700, and refused unless it is a real directory owned by the caller that no one
    else may enter (another local user could otherwise create /tmp/lockgate-UID first and
    receive this user's commands)."""
    directory = directory or os.environ.get("XDG_RUNTIME_DIR") or _fallback()
    os.makedirs(directory, 0o700, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a directory"
        raise NotPrivate(
            f"{directory} is not private ({kind}, owner uid {info.st_uid}, mode "
            f"{stat.S_IMODE(info.st_mode):o}); remove it, or set XDG_RUNTIME_DIR to a directory "
            "only you can use"
        )
    return directory


def _fallback() -> str:
    return f"/tmp/lockgate-{os.getuid()}"


def socket_for(kind: str, identity: str) -> str:
    """A short socket path, unique for `identity` (a directory, an installation...). Under a
    runtime directory too deep for a socket path, it is under /tmp/lockgate-UID instead."""
    name = f"{kind}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
    path = os.path.join(runtime_dir(), name)
    if len(path.encode()) + BIND_SUFFIX > SOCKET_PATH_MAX:
        path = os.path.join(runtime_dir(_fallback()), name)
    return path


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
