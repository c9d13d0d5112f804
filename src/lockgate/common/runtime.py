"""A private directory for sockets on this machine: $XDG_RUNTIME_DIR, else /tmp/lockgate-UID
(mode 0700).

Unix socket paths are limited to about 100 bytes, so sockets cannot live under a repository's
.lockgate/ when the repository is deep in the file system. The launcher imports this module
before anything else, on every command: it imports only what it uses, from the standard
library.
"""

from __future__ import annotations

import os
import stat
import zlib


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
    # 64 bits from two CRCs, not a cryptographic digest: the names only have to differ among
    # one user's installations (the directory is private), and hashlib would cost every
    # command 4 ms of importing OpenSSL.
    data = identity.encode()
    name = f"{kind}-{zlib.crc32(data):08x}{zlib.crc32(data[::-1]):08x}"
    path = os.path.join(runtime_dir(), name)
    if len(path.encode()) + BIND_SUFFIX > SOCKET_PATH_MAX:
        path = os.path.join(runtime_dir(_fallback()), name)
    return path
