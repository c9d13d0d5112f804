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
import stat


class NotPrivate(OSError):
    """The runtime directory could be used by someone else: it is never used then."""


def runtime_dir() -> str:
    """The caller's own directory for sockets: created 0700, and refused unless it is a real
    directory owned by the caller that no one else may enter (another local user could
    otherwise create /tmp/lockgate-UID first and receive this user's commands)."""
    directory = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/lockgate-{os.getuid()}"
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


def socket_for(kind: str, identity: str) -> str:
    """A short socket path, unique for `identity` (a directory, an installation...)."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return os.path.join(runtime_dir(), f"{kind}-{digest}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
