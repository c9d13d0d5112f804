"""A real Prometheus (Debian's `prometheus`) scraping the given targets every second."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..conftest import need
from .fleet import free_port


@contextmanager
def prometheus(where: Path, targets: list[str]) -> Iterator[str]:
    """Prometheus scraping `targets` (host:port) every second; its URL."""
    binary = shutil.which("prometheus")
    need(binary is not None, "prometheus is not installed (apt-get install prometheus)")
    assert binary is not None
    port = free_port()
    config = where / "prometheus.yml"
    listed = ", ".join(f"'{t}'" for t in targets)
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: lockgate-test\n"
        f"    static_configs:\n      - targets: [{listed}]\n"
    )
    server = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={where / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
