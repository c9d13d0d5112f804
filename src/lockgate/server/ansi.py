"""A log line's ANSI colours (SGR escapes) as HTML spans; everything else escaped. Classes, not
inline styles, so the page's stylesheet picks the palette and no attribute holds log text."""

from __future__ import annotations

import html
import re

ESCAPE = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")
COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


def _basic(codes: list[int]) -> list[int]:
    """The codes without 256-colour and true-colour selections (38;5;n, 48;2;r;g;b), which
    would otherwise read as plain colours."""
    kept, index = [], 0
    while index < len(codes):
        if codes[index] in (38, 48):
            index += 3 if codes[index + 1 : index + 2] == [5] else 5
            continue
        kept.append(codes[index])
        index += 1
    return kept


def _classes(codes: list[int], current: list[str]) -> list[str]:
    kept = list(current)
    for code in _basic(codes) if codes else [0]:
        if code == 0:
            kept = []
        elif code == 1:
            kept.append("ansi-bold")
        elif code == 22:
            kept = [c for c in kept if c != "ansi-bold"]
        elif 30 <= code <= 37 or 90 <= code <= 97:
            name = COLOURS[code % 10] if code < 90 else "bright-" + COLOURS[code - 90]
            kept = [c for c in kept if not c.startswith("ansi-fg")] + [f"ansi-fg-{name}"]
        elif code == 39:
            kept = [c for c in kept if not c.startswith("ansi-fg")]
    return kept


def to_html(line: str) -> str:
    out: list[str] = []
    classes: list[str] = []
    position = 0
    for found in ESCAPE.finditer(line):
        out.append(html.escape(line[position : found.start()]))
        position = found.end()
        if found.group(2) != "m":
            continue  # cursor movement and the like: dropped
        codes = [int(c) for c in found.group(1).split(";") if c.isdigit()]
        if classes:
            out.append("</span>")
        classes = _classes(codes, classes)
        if classes:
            out.append(f'<span class="{" ".join(classes)}">')
    out.append(html.escape(line[position:]))
    if classes:
        out.append("</span>")
    return "".join(out).replace("\x1b", "")
