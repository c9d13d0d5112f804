"""Semantic versions as semver.org 2.0 orders them (the SEMVER_* constraint operators)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$"
)


@dataclass(frozen=True)
class Version:
    core: tuple[int, int, int]
    prerelease: tuple[str, ...]  # empty: a release, which ranks above its pre-releases

    def key(self) -> tuple[tuple[int, int, int], int, tuple[tuple[int, int, str], ...]]:
        # Numeric identifiers rank below alphanumeric ones; numbers compare as numbers.
        parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return self.core, 0 if self.prerelease else 1, parts


def parse(text: str) -> Version | None:
    """The version, or None when `text` is not one (a leading `v` is not)."""
    found = _SEMVER.match(text.strip())
    if found is None:
        return None
    major, minor, patch, pre = found.groups()
    return Version((int(major), int(minor), int(patch)), tuple(pre.split(".")) if pre else ())
