"""`sudo` where GitHub's runners have it and this host does not: their steps run
`sudo apt-get install ...` with passwordless sudo. When lockgate runs as root on a host
without sudo, a step finds this stand-in on PATH (after everything else): it drops sudo's
options and runs the command as root, which it already is. Any other user is refused, as sudo
without a password would refuse it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SCRIPT = """#!/bin/sh
# lockgate: sudo as GitHub's runners have it (passwordless); this step already runs as root
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -u|--user)
      case "$2" in root|0|'#0') shift 2 ;;
        *) echo "sudo (lockgate): only root here, not $2" >&2; exit 1 ;; esac ;;
    --user=root|--user=0) shift ;;
    -g|-C|-h|-p|-U|-r|-t|-T|-D|--group|--prompt|--host|--chdir) shift 2 ;;
    -s|-i|--shell|--login) shift; [ $# -eq 0 ] && exec "${SHELL:-/bin/sh}" ;;
    -v|-k|-K|--validate|--reset-timestamp) shift; [ $# -eq 0 ] && exit 0 ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -eq 0 ] && { echo "usage: sudo command" >&2; exit 1; }
exec env -- "$@"
"""


def sudo_directory(where: Path, path: str) -> Path | None:
    """A directory holding the stand-in, when this process is root and `path` has no sudo."""
    if os.geteuid() != 0 or shutil.which("sudo", path=path) is not None:
        return None
    shim = where / "sudo"
    if not shim.exists():
        where.mkdir(parents=True, exist_ok=True)
        shim.write_text(SCRIPT)
        shim.chmod(0o755)
    return where
