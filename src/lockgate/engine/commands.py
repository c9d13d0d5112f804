"""Workflow commands printed by steps (`::error file=a,line=1::msg`) and secret masking."""

from __future__ import annotations

from dataclasses import dataclass, field

_UNESCAPE_DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_UNESCAPE_PROPERTY = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


def _unescape(text: str, table: tuple[tuple[str, str], ...]) -> str:
    for escaped, plain in table:
        text = text.replace(escaped, plain)
    return text


@dataclass(frozen=True)
class Command:
    name: str
    properties: dict[str, str]
    message: str


def parse_command(line: str) -> Command | None:
    """`::name k=v,k=v::message` -> Command; None when the line is ordinary output."""
    if not line.startswith("::"):
        return None
    end = line.find("::", 2)
    if end < 0:
        return None
    head, message = line[2:end], line[end + 2 :]
    name, _, props = head.partition(" ")
    if not name:
        return None
    properties: dict[str, str] = {}
    for pair in props.split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            properties[key.strip()] = _unescape(value, _UNESCAPE_PROPERTY)
    return Command(name, properties, _unescape(message, _UNESCAPE_DATA))


@dataclass
class Masker:
    """Replaces every registered secret value with `***`, longest first."""

    values: set[str] = field(default_factory=set)

    def add(self, value: str) -> None:
        for part in [value, *value.splitlines()]:
            if part.strip() and len(part) >= 1:
                self.values.add(part)

    def __call__(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, "***")
        return text

    def safe_cut(self, text: str) -> int:
        """How much of `text` (a part of an overlong line) can be emitted now without cutting
        a secret in two: the rest waits for the line's next part."""
        if not self.values:
            return len(text)
        cut = max(0, len(text) - max(map(len, self.values)) + 1)
        for value in self.values:
            start = text.find(value, max(0, cut - len(value) + 1))
            while 0 <= start < cut:
                if start + len(value) > cut:
                    cut = start
                    break
                start = text.find(value, start + 1)
        return cut
