"""GitHub Actions' `${{ }}` expression language."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ExpressionError
from .evaluator import Evaluator, Function
from .parser import parse
from .values import Value, to_string, truthy

__all__ = [
    "ExpressionError",
    "Function",
    "Value",
    "evaluate",
    "parse",
    "to_string",
    "truthy",
]


def evaluate(
    source: str,
    contexts: Mapping[str, Value],
    functions: Mapping[str, tuple[int, int, Function]] | None = None,
) -> Value:
    """Parse and evaluate one expression. `functions` adds (min args, max args, callable)."""
    extra = functions or {}
    tree = parse(source, contexts.keys(), {k: (lo, hi) for k, (lo, hi, _) in extra.items()})
    return Evaluator(contexts, {k.lower(): f for k, (_, _, f) in extra.items()}).evaluate(tree)
