"""GitHub's filter patterns for branches, tags and paths (*, **, ?, +, [], leading !)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        end = pattern.find("]", i) if c == "[" else -1
        if end > 0:
            out.append(pattern[i : end + 1])
            i = end + 1
            continue
        out.append({"*": "[^/]*", "?": ".", "+": "+"}.get(c, re.escape(c)))
        i += 1
    return re.compile("".join(out))


def matches(name: str, pattern: str) -> bool:
    return _compile(pattern).fullmatch(name) is not None


def filter_match(name: str, patterns: Sequence[str]) -> bool:
    """Apply patterns in order; a later `!pattern` excludes what earlier ones included."""
    included = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if included and matches(name, pattern[1:]):
                included = False
        elif matches(name, pattern):
            included = True
    return included
