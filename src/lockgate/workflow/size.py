"""GitHub's estimate of a parsed workflow's size, against which it refuses oversized results.

The measure is the one GitHub's template reader keeps (the runner's TemplateMemory): every
token costs a small object, every string also its .NET length in UTF-16 code units, twice,
plus a string header; the file's name counts once per file read, so a reusable workflow
counts again at each job that calls it. An expression is counted as its text, where GitHub
counts the parsed expression, a few characters shorter: the estimate errs by a few bytes
per expression, always towards refusing.
"""

from __future__ import annotations

from .tokens import Map, Scalar, Token

OBJECT = 24  # TemplateMemory.MinObjectSize
STRING = 26  # TemplateMemory.StringBaseOverhead


def text_bytes(text: str) -> int:
    return STRING + len(text.encode("utf-16-le"))


def token_bytes(root: Token) -> int:
    total = 0
    pending: list[Token] = [root]
    while pending:
        token = pending.pop()
        total += OBJECT
        if isinstance(token, Scalar):
            if isinstance(token.value, str):
                total += text_bytes(token.value)
        elif isinstance(token, Map):
            for key, value in token.pairs:
                pending += (key, value)
        else:
            pending += token.items
    return total


def file_bytes(name: str, root: Token | None) -> int:
    """What reading one file adds: its name and its tokens."""
    return text_bytes(name) + (token_bytes(root) if root is not None else 0)
