"""A config repository for the GitOps unit tests: real git, commits by Ann."""

from __future__ import annotations

import subprocess
from pathlib import Path

WHO = ["-c", "user.name=Ann", "-c", "user.email=ann@example.com"]


def commit(repo: Path, files: dict[str, str]) -> str:
    """Write `files` (path -> text) under `repo`, commit them as Ann; the commit."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), *WHO, "commit", "-qm", "envs"], check=True)
    done = ["git", "-C", str(repo), "rev-parse", "HEAD"]
    return subprocess.run(done, check=True, capture_output=True, text=True).stdout.strip()
