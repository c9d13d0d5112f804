"""Where code still names a flag: `lockgate flags refs DIR` and the debt report. A name counts
where it stands whole (not inside a longer name), in any text file under DIR."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

SKIPPED = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".lockgate",
           ".mypy_cache", ".ruff_cache", ".pytest_cache", "dist", "build", "target"}  # fmt: skip
LARGEST = 2 * 1024 * 1024  # bigger files are data, not code


def references(root: Path, names: Iterable[str]) -> dict[str, list[str]]:
    """name -> ["path:line", ...] (paths relative to `root`), for every name found."""
    wanted = sorted(set(names), key=len, reverse=True)
    found: dict[str, list[str]] = {}
    if not wanted:
        return found
    pattern = re.compile(
        r"(?<![\w.~-])(" + "|".join(re.escape(n) for n in wanted) + r")(?![\w~-]|\.\w)"
    )
    for path in _files(root):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:8192]:
            continue  # binary
        text = data.decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for match in pattern.finditer(line):
                found.setdefault(match.group(1), []).append(f"{path.relative_to(root)}:{number}")
    return found


def _files(root: Path) -> Iterable[Path]:
    for folder, dirs, files in os.walk(root):  # symbolic links to folders are not followed
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
        for name in sorted(files):
            path = Path(folder) / name
            try:
                if path.is_symlink() or path.stat().st_size > LARGEST:
                    continue
            except OSError:
                continue
            yield path
