"""Benchmarks time what a user gets: the `lockgate` client with its warm server running.

`warm_server()` starts the server (as any first command does) and waits until it answers;
`IN_PROCESS` is the environment for the same commands without a server (LOCKGATE_DAEMON=0),
which every benchmark reports beside, so the cost of start-up stays visible.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lockgate.cli.launcher import socket_path

LOCKGATE = Path(sys.executable).parent / "lockgate"
IN_PROCESS = {**os.environ, "LOCKGATE_DAEMON": "0"}


def warm_server() -> None:
    subprocess.run([str(LOCKGATE), "version"], capture_output=True, check=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(socket_path()):
        if time.monotonic() > deadline:
            raise SystemExit("the lockgate server did not start")
        time.sleep(0.05)
