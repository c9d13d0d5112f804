"""Version specs as setup-python and setup-node read them: `3.11`, `3.x`, `>=3.9 <3.13`, `18`,
`^20.1`, `lts/*`, exact versions, prereleases."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-.]?((?:a|b|rc|alpha|beta|dev)[.\d]*))?")


@dataclass(frozen=True)
class Version:
    major: int
    minor: int = 0
    patch: int = 0
    prerelease: str = ""  # "rc1", "a2", "dev": before the release of the same number

    @staticmethod
    def parse(text: str) -> Version | None:
        match = _VERSION.fullmatch(text.strip())
        if not match:
            return None
        major, minor, patch, pre = match.groups()
        return Version(int(major), int(minor or 0), int(patch or 0), pre or "")

    def key(self) -> tuple[int, int, int, int, str]:
        # A release sorts after its prereleases.
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, self.prerelease)

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}{self.prerelease}" if self.prerelease else core


_COMPARATOR = re.compile(r"(>=|<=|>|<|==|=|~=|\^|~)?\s*(v?\d+(?:\.(?:\d+|x|\*))*(?:[-.]?\w+)?)")


@dataclass(frozen=True)
class Spec:
    """One requested version: a prefix (`3.11`, `3.x`), or comparators that all must hold."""

    text: str

    def matches(self, version: Version) -> bool:
        if "||" in self.text:  # npm's `^12.13.0 || >=16`: any alternative
            return any(Spec(part).matches(version) for part in self.text.split("||"))
        text = self.text.strip().removeprefix("v")
        if text in ("", "x", "*", "latest", "node"):
            return True
        if "," in text or " " in text or text[0] in "<>=~^!":
            parts = [p for p in re.split(r"[,\s]+", text) if p]
            return all(_comparator(part, version) for part in parts)
        return _prefix(text, version)


def _prefix(text: str, version: Version) -> bool:
    """`3.11` is any 3.11.x; `3.x` any 3; `3.11.7` exactly that; `3.13-dev` a 3.13 prerelease."""
    text = text.removesuffix("-dev")
    fields = [f for f in text.split(".") if f not in ("x", "*", "")]
    exact = Version.parse(text)
    if exact is not None and exact.prerelease:
        return version == exact
    actual = [version.major, version.minor, version.patch]
    try:
        return all(int(f) == actual[i] for i, f in enumerate(fields[:3]))
    except ValueError:
        return False


def _comparator(part: str, version: Version) -> bool:
    match = _COMPARATOR.fullmatch(part)
    if not match:
        return False
    operator, target_text = match.group(1) or "=", match.group(2)
    if "x" in target_text or "*" in target_text:
        return _prefix(target_text, version)
    target = Version.parse(target_text)
    if target is None:
        return False
    have, want = version.key()[:3], target.key()[:3]
    depth = len(target_text.removeprefix("v").split("."))
    if operator in ("=", "=="):
        return _prefix(target_text, version)
    if operator == ">=":
        return have >= want
    if operator == ">":
        return have > want
    if operator == "<=":
        return have <= want
    if operator == "<":
        return have < want
    if operator == "^":  # same major (or minor for 0.x)
        same = version.major == target.major and (
            target.major != 0 or version.minor == target.minor
        )
        return same and have >= want
    # ~ and ~=: same major.minor (same major when only major.minor is given to ~=)
    if operator == "~=" and depth == 2:
        return version.major == target.major and have >= want
    return version.major == target.major and version.minor == target.minor and have >= want


def best(
    specs: Iterable[Spec], versions: Iterable[Version], prereleases: bool = False
) -> Version | None:
    """The highest version any spec accepts (releases first; prereleases when allowed or asked)."""
    candidates = sorted(versions, key=Version.key, reverse=True)
    for spec in specs:
        asked_pre = bool(re.search(r"\d(-dev|a|b|rc|alpha|beta)", spec.text))
        matching = [v for v in candidates if spec.matches(v)]
        releases = [v for v in matching if not v.prerelease]
        if releases and not asked_pre:
            return releases[0]
        if matching and (prereleases or asked_pre):
            return matching[0]
    return None
