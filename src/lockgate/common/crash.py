"""An internal error becomes one line for the user and a crash report holding the traceback.

Secrets named on the command line (`-s K=V`, `--secret-file`) are replaced by *** in the
report, as in logs.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from .userdirs import cache_dir

SECRET_FLAGS = ("-s", "--secret")


def secrets_in(argv: Sequence[str]) -> list[str]:
    """The secret values a command line carries, longest first."""
    found: list[str] = []
    for i, arg in enumerate(argv):
        value = None
        if arg in SECRET_FLAGS and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--secret="):
            value = arg.removeprefix("--secret=")
        elif arg == "--secret-file" and i + 1 < len(argv):
            found.extend(_file_values(Path(argv[i + 1])))
        if value and "=" in value:
            name, given = value.split("=", 1)
            # `-s NAME=` takes the value from the environment, as `lockgate run` does.
            found.append(given or os.environ.get(name, ""))
    return sorted({v for v in found if v}, key=len, reverse=True)


def _file_values(path: Path) -> list[str]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line.split("=", 1)[1].strip().strip("'\"") for line in lines if "=" in line]


def scrub(text: str, secrets: Sequence[str]) -> str:
    for value in secrets:
        text = text.replace(value, "***")
    return text


def write_report(exc: BaseException, argv: Sequence[str]) -> Path:
    secrets = secrets_in(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = cache_dir("crashes") / f"{stamp}-{os.getpid()}.txt"
    body = "".join(traceback.format_exception(exc))
    header = (
        f"lockgate {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"command: {' '.join(argv)}\n\n"
    )
    path.write_text(scrub(header + body, secrets))
    path.chmod(0o600)
    return path


def report(exc: BaseException) -> int:
    """Tell the user in one line where the report is; the exit code for an internal error."""
    what = scrub(f"{type(exc).__name__}: {exc}".splitlines()[0][:300], secrets_in(sys.argv))
    try:
        where = f"crash report: {write_report(exc, sys.argv)}"
    except OSError as failure:
        where = f"(no crash report could be written: {failure.strerror})"
    print(f"lockgate: internal error ({what}); {where}", file=sys.stderr)
    print("  please report it with the crash report attached", file=sys.stderr)
    return 1
