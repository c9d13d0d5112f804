"""Advisory file locks (flock) that say who is doing what: held for a process's whole task,
released by the kernel however the process ends."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def holding(path: Path) -> Iterator[None]:
    """Hold `path`'s lock (waiting for it), making the file and its folder when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def held(path: Path) -> bool:
    """Whether another process holds `path`'s lock now (asked without writing anything)."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
    return False
