"""`${{ }}` templates inside YAML strings."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from .expressions import ExpressionError, Value, to_string

OPEN, CLOSE = "${{", "}}"


def closing(text: str, start: int) -> int:
    """Index of the `}}` closing the `${{` at `start` (quoted text may hold '}}'), or -1."""
    j, quoted = start + len(OPEN), False
    while j < len(text):
        if text[j] == "'":
            quoted = not quoted
        elif not quoted and text.startswith(CLOSE, j):
            return j
        j += 1
    return -1


def _segments(text: str) -> Iterator[tuple[bool, str]]:
    """Split into (is_expression, text) parts."""
    i = 0
    while True:
        start = text.find(OPEN, i)
        if start < 0:
            if i < len(text):
                yield False, text[i:]
            return
        if start > i:
            yield False, text[i:start]
        j = closing(text, start)
        if j < 0:  # unterminated: GitHub treats it as literal text
            yield False, text[start:]
            return
        yield True, text[start + len(OPEN) : j].strip()
        i = j + len(CLOSE)


def expressions_in(text: str, bare: bool = False) -> list[str]:
    """The expressions a value holds; with `bare` (an `if:`), text without `${{` is one."""
    if bare and OPEN not in text:
        return [text.strip()]
    return [part for is_expr, part in _segments(text) if is_expr]


def is_single_expression(text: str) -> bool:
    parts = list(_segments(text.strip()))
    return len(parts) == 1 and parts[0][0]


def render(text: Value, evaluate: Callable[[str], Value]) -> Value:
    """Interpolate; a value that is one whole expression keeps the expression's type."""
    if not isinstance(text, str) or OPEN not in text:
        return text
    if is_single_expression(text):
        return evaluate(next(iter(_segments(text.strip())))[1])
    return "".join(
        to_string(evaluate(part)) if is_expr else part for is_expr, part in _segments(text)
    )


_INSERT = re.compile(r"\$\{\{\s*insert\s*\}\}")


def is_insert(key: object) -> bool:
    """GitHub's `${{ insert }}` directive as a mapping key: its value, a mapping once
    evaluated, is merged into the mapping holding it."""
    return isinstance(key, str) and bool(_INSERT.fullmatch(key.strip()))


def inserted(value: Value) -> dict[str, Value]:
    if not isinstance(value, dict):
        raise ExpressionError("TypeError", "The value of `${{ insert }}` must be a mapping")
    return value


def render_tree(value: Any, evaluate: Callable[[str], Value]) -> Any:
    """Every string of a YAML value interpolated, keys too (GitHub evaluates an expression
    key such as a matrix's `${{ needs.setup.outputs.axis }}`), `${{ insert }}` keys merged
    in place."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            rendered = render_tree(item, evaluate)
            if is_insert(key):
                out.update(inserted(rendered))
            elif isinstance(key, str) and OPEN in key:
                out[to_string(render(key, evaluate))] = rendered
            else:
                out[key] = rendered
        return out
    if isinstance(value, list):
        return [render_tree(item, evaluate) for item in value]
    return render(value, evaluate)


def render_condition(text: str | bool | None, evaluate: Callable[[str], Value]) -> Value:
    """An `if:` value: bare expression or `${{ }}`; empty means the implicit success()."""
    if text is None:
        return evaluate("success()")
    if isinstance(text, bool):
        return text
    stripped = text.strip()
    if is_single_expression(stripped):
        stripped = next(iter(_segments(stripped)))[1]
    elif OPEN in stripped:
        return render(stripped, evaluate)
    return evaluate(stripped or "success()")
