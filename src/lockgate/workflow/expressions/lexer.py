"""Tokenizer for the `${{ }}` language, following the Actions runner's rules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, auto

from .errors import ExpressionError
from .values import parse_number

MAX_EXPRESSION_LENGTH = 21000


class T(Enum):
    LPAREN = auto()
    RPAREN = auto()
    LBRACKET = auto()
    RBRACKET = auto()
    COMMA = auto()
    DOT = auto()
    BANG = auto()
    NE = auto()
    EQ = auto()
    GT = auto()
    GE = auto()
    LT = auto()
    LE = auto()
    AND = auto()
    OR = auto()
    STAR = auto()
    NUMBER = auto()
    STRING = auto()
    IDENT = auto()
    TRUE = auto()
    FALSE = auto()
    NULL = auto()
    EOF = auto()


@dataclass(frozen=True, slots=True)
class Token:
    type: T
    lexeme: str
    offset: int
    value: object = None

    def text(self) -> str:
        if self.type is T.EOF:
            return "EOF"
        if self.type is T.STRING:
            return str(self.value)
        return self.lexeme


_SIMPLE = {
    "(": T.LPAREN,
    ")": T.RPAREN,
    "[": T.LBRACKET,
    "]": T.RBRACKET,
    ",": T.COMMA,
    "*": T.STAR,
}
_BOUNDARY = set("([)],.!><=&|")
_KEYWORDS = {"true": T.TRUE, "false": T.FALSE, "null": T.NULL}
# A dot directly after one of these is property access; otherwise it starts a number.
_ACCESSIBLE = {T.IDENT, T.RBRACKET, T.RPAREN, T.STAR}


def _is_boundary(c: str) -> bool:
    return c in _BOUNDARY or c.isspace()


def _legal_identifier(word: str) -> bool:
    if not word or not (word[0].isascii() and (word[0].isalpha() or word[0] == "_")):
        return False
    return all(c.isascii() and (c.isalnum() or c in "_-") for c in word[1:])


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError("parsing", f"Exceeded max expression length {MAX_EXPRESSION_LENGTH}")
    tokens: list[Token] = []
    i, n = 0, len(source)

    def unexpected(start: int, end: int) -> ExpressionError:
        return ExpressionError(
            "lexing",
            f"Unexpected symbol: '{source[start:end]}'. Located at position {start + 1} "
            f"within expression: {source}",
        )

    def until_boundary(j: int, allow_dot: bool = False) -> int:
        while j < n and (not _is_boundary(source[j]) or (allow_dot and source[j] == ".")):
            j += 1
        return j

    def previous() -> T:
        return tokens[-1].type if tokens else T.EOF

    while i < n:
        c = source[i]
        start = i
        two = source[i : i + 2]
        if c.isspace():
            i += 1
        elif c in _SIMPLE:
            tokens.append(Token(_SIMPLE[c], c, start))
            i += 1
        elif c == "." and previous() in _ACCESSIBLE:
            tokens.append(Token(T.DOT, c, start))
            i += 1
        elif c in ".-+" or c.isdigit():
            i = until_boundary(i + 1, allow_dot=True)
            lexeme = source[start:i]
            parsed = parse_number(lexeme)
            if math.isnan(parsed):
                raise unexpected(start, i)
            tokens.append(Token(T.NUMBER, lexeme, start, parsed))
        elif two in ("!=", "==", ">=", "<=", "&&", "||"):
            kinds = {"!=": T.NE, "==": T.EQ, ">=": T.GE, "<=": T.LE, "&&": T.AND, "||": T.OR}
            tokens.append(Token(kinds[two], two, start))
            i += 2
        elif c in "!<>":
            tokens.append(Token({"!": T.BANG, "<": T.LT, ">": T.GT}[c], c, start))
            i += 1
        elif c == "'":
            i += 1
            while i < n and (source[i] != "'" or source[i + 1 : i + 2] == "'"):
                i += 2 if source[i] == "'" else 1
            if i >= n:
                raise unexpected(start, n)
            i += 1
            value = source[start + 1 : i - 1].replace("''", "'")
            tokens.append(Token(T.STRING, source[start:i], start, value))
        else:
            # Identifiers, keywords, and lone '=', '&', '|' read to the next boundary.
            i = until_boundary(i + 1)
            word = source[start:i]
            if not _legal_identifier(word):
                raise unexpected(start, i)
            kind = T.IDENT
            number: float | None = None
            if previous() is not T.DOT:
                if word in _KEYWORDS:
                    kind = _KEYWORDS[word]
                elif word in ("NaN", "Infinity"):
                    kind, number = T.NUMBER, math.nan if word == "NaN" else math.inf
            tokens.append(Token(kind, word, start, number))
    tokens.append(Token(T.EOF, "", n))
    return tokens
