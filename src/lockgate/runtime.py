"""Sockets and ports on this machine. A private directory for sockets: $XDG_RUNTIME_DIR,
else /tmp/lockgate-UID (mode 0700).

Unix socket paths are limited to about 100 bytes, so sockets cannot live under a repository's
.lockgate/ when the repository is deep in the file system. Standard library only: the
launcher imports it before anything else.
"""

from __future__ import annotations

import hashlib
import os
import socket


def runtime_dir() -> str:
    directory = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/lockgate-{os.getuid()}"
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return directory


def socket_for(kind: str, identity: str) -> str:
    """A short socket path, unique for `identity` (a directory, an installation...)."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return os.path.join(runtime_dir(), f"{kind}-{digest}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
