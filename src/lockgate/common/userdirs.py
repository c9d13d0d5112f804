"""Per-user directories shared by all of a user's repositories: caches of tools and actions,
crash reports. $XDG_CACHE_HOME/lockgate, else ~/.cache/lockgate (LOCKGATE_CACHE_DIR overrides).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    base = os.environ.get("LOCKGATE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lockgate"
    )
    path = Path(base, *parts)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
