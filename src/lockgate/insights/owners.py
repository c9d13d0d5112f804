"""Who owns a gate: `owner:` of its job in lockgate.yml, else the CODEOWNERS entry of the
workflow file that defines it (GitHub's rules: the file in .github/, the root or docs/; the
last matching pattern wins; gitignore-style patterns)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

PLACES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


def codeowners(repo: Path) -> list[tuple[str, list[str]]]:
    """(pattern, owners) in file order; [] without a CODEOWNERS file."""
    for place in PLACES:
        path = repo / place
        if path.is_file():
            entries = []
            for line in path.read_text(errors="replace").splitlines():
                words = line.split("#", 1)[0].split()
                if words:
                    entries.append((words[0], words[1:]))
            return entries
    return []


def _matches(pattern: str, path: str) -> bool:
    anchored = pattern.startswith("/")
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    if "/" not in pattern.rstrip("*") and not anchored:  # a bare name matches at any depth
        return any(fnmatch.fnmatch(part, pattern) for part in path.split("/")) or fnmatch.fnmatch(
            path, pattern
        )
    return fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.replace("/**", "/*"))


def owner_of(path: str, entries: list[tuple[str, list[str]]]) -> str | None:
    """The owners of `path` (repository-relative), joined; None when no rule matches."""
    found = None
    for pattern, owners in entries:
        if _matches(pattern, path):
            found = " ".join(owners) or None
    return found
