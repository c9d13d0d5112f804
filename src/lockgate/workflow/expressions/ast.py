"""Syntax tree of a parsed expression."""

from __future__ import annotations

from dataclasses import dataclass

from .lexer import Token
from .values import Value


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value


@dataclass(frozen=True, slots=True)
class Context:
    name: str


@dataclass(frozen=True, slots=True)
class Star:
    pass


@dataclass(frozen=True, slots=True)
class Index:
    target: Node
    index: Node | Star


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class Compare:
    left: Node
    operator: str
    right: Node


@dataclass(frozen=True, slots=True)
class Logical:
    operator: str  # "&&" or "||"
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # lower-cased
    args: tuple[Node, ...]
    token: Token


@dataclass(frozen=True, slots=True)
class Group:
    inner: Node


Node = Literal | Context | Index | Not | Compare | Logical | Call | Group
