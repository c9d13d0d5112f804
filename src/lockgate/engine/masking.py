"""Secret masking: every value registered (a secret, an `add-mask`) becomes `***` wherever
lockgate writes or shows text."""

from __future__ import annotations

from dataclasses import dataclass, field


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
