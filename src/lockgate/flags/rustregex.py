"""The REGEX constraint's patterns are Rust `regex` syntax (Unleash's engine): this compiles
that dialect with Python's `re`. Rust has no look-around and no back-reference (patterns using
them are refused, as Unleash refuses them), knows POSIX classes such as `[[:alpha:]]`, and lets
an inline flag group such as `(?i)` stand mid-pattern, applying to the rest of its group."""

from __future__ import annotations

import re
from functools import lru_cache

POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAGS = re.compile(r"\(\?([imsxU]+)\)")
_REFUSED = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


class Unsupported(ValueError):
    pass


@lru_cache(maxsize=1024)
def compile_rust(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """ValueError (re.error, Unsupported) when the pattern is not one Rust accepts."""
    if _REFUSED.search(_without_escapes(pattern)):
        raise Unsupported("look-around and back-references are not regular expressions")
    return re.compile(_scoped_flags(_posix_classes(pattern)), re.IGNORECASE if ignore_case else 0)


def _without_escapes(pattern: str) -> str:
    """The pattern with escaped characters blanked, so `\\(?=` is not taken for a look-ahead."""
    return re.sub(r"\\[^1-9]", "__", pattern)


def _posix_classes(pattern: str) -> str:
    def replace(found: re.Match[str]) -> str:
        name = found.group(2)
        if name not in POSIX:
            raise Unsupported(f"unknown POSIX class [:{name}:]")
        if found.group(1):
            raise Unsupported("negated POSIX classes are not supported")
        return POSIX[name]

    return re.sub(r"\[:(\^?)([a-z]+):\]", replace, pattern)


def _scoped_flags(pattern: str) -> str:
    """`a(?i)b` -> `a(?i:b)`: Python takes global flags only at the start."""
    out: list[str] = []
    closers: list[int] = [0]  # per open group: how many scoped-flag groups to close with it
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[":
            end = _class_end(pattern, i)
            out.append(pattern[i:end])
            i = end
            continue
        flags = _FLAGS.match(pattern, i)
        if flags:
            if "U" in flags.group(1):
                raise Unsupported("the swap-greed flag U is not supported")
            out.append(f"(?{flags.group(1)}:")
            closers[-1] += 1
            i = flags.end()
            continue
        if char == "(":
            closers.append(0)
        elif char == ")" and len(closers) > 1:
            out.append(")" * closers.pop())
        out.append(char)
        i += 1
    out.append(")" * closers[0])
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    """Index just past the bracket class opening at `start`."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i + 1
        i += 1
    return len(pattern)
