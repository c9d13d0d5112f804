"""The one error type of the expression language."""

from __future__ import annotations


class ExpressionError(Exception):
    """A lexing, parsing or evaluation error, worded as GitHub words it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
