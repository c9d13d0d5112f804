"""Starting a router process that outlives the command which starts it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ...common.errors import UserError
from ...common.processes import detached


def start(argv: list[str], log: Path, cwd: str | None = None) -> subprocess.Popen[bytes]:
    """In a session of its own (no terminal signal reaches it), output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            cwd=cwd,
            env=detached(os.environ),  # it outlives a run that deploys from a step
        )


def wait_until_serving(
    process: subprocess.Popen[bytes],
    serving: Callable[[], bool],
    log: Path,
    failed: Callable[[str], UserError],
    seconds: float = 15,
) -> None:
    """Return once `serving()`; if the process exits or time runs out, raise `failed(tail of
    its log)`."""
    deadline = time.monotonic() + seconds
    while not serving():
        if process.poll() is not None or time.monotonic() > deadline:
            raise failed(log.read_text(errors="replace")[-400:].strip())
        time.sleep(0.05)
