"""nginx as the tests start it: its own prefix, config and port, in the foreground."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lockgate.common.ports import free_port

from ..conftest import need, wait_listening


@contextmanager
def running_nginx(root: Path, locations: str) -> Iterator[int]:
    """nginx serving `locations` (the body of its one server block) on 127.0.0.1; its port."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    need(Path(nginx).exists(), "nginx is not installed (apt-get install nginx-light)")
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"  {kind}_temp_path {root}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (root / "nginx.conf").write_text(
        f"""{user}
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{}}
http {{
{temp_paths}
  access_log off;
  server {{
    listen 127.0.0.1:{port};
{locations}
  }}
}}
"""
    )
    proc = subprocess.Popen(
        [nginx, "-c", str(root / "nginx.conf"), "-p", str(root)],
        start_new_session=True,
        stderr=subprocess.PIPE,
    )
    wait_listening(port, proc, "nginx")
    try:
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
