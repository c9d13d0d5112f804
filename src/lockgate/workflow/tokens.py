"""YAML text -> a tree of positioned tokens, read as GitHub's workflow parser reads YAML.

The YAML 1.2 core schema decides what a plain scalar is (`on` and `yes` stay strings); aliases
resolve to the anchored value; explicit tags are limited to the core scalar types, each checked.
Every token keeps its 1-based line and column so each problem can name GitHub's position.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)

from .problems import Problem

ScalarValue = None | bool | int | float | str


@dataclass
class Scalar:
    value: ScalarValue
    line: int
    col: int
    end_line: int = 0
    style: str | None = None  # None plain, '|' '>' block, "'" '"' quoted
    end_col: int = 0

    def text(self) -> str:
        """The value as GitHub shows it in messages (`true`, `1.5`, ``)."""
        return display(self.value)


@dataclass
class Seq:
    items: list[Token]
    line: int
    col: int


@dataclass
class Map:
    pairs: list[tuple[Scalar, Token]]
    line: int
    col: int
    _index: dict[str, Token] = field(default_factory=dict, repr=False)

    def get(self, key: str) -> Token | None:
        if not self._index:
            self._index = {str(k.value): v for k, v in reversed(self.pairs)}
        return self._index.get(key)

    def key(self, key: str) -> Scalar | None:
        return next((k for k, _ in self.pairs if k.value == key), None)


Token = Scalar | Seq | Map


def display(value: ScalarValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


_CORE = "tag:yaml.org,2002:"
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")


def _as_null(text: str) -> tuple[bool, None]:
    return text in ("", "~", "null", "Null", "NULL"), None


def _as_bool(text: str) -> tuple[bool, bool | None]:
    if text in ("true", "True", "TRUE"):
        return True, True
    if text in ("false", "False", "FALSE"):
        return True, False
    return False, None


def _as_int(text: str) -> tuple[bool, int | None]:
    if _INT.fullmatch(text):
        return True, int(text)
    if _OCT.fullmatch(text):
        return True, int(text[2:], 8)
    if _HEX.fullmatch(text):
        return True, int(text[2:], 16)
    return False, None


def _as_float(text: str) -> tuple[bool, float | None]:
    if _FLOAT.fullmatch(text):
        return True, float(text)
    if _INF.fullmatch(text):
        return True, -math.inf if text.startswith("-") else math.inf
    if _NAN.fullmatch(text):
        return True, math.nan
    return False, None


_TAGGED: dict[str, Any] = {
    "null": _as_null,
    "bool": _as_bool,
    "int": _as_int,
    "float": _as_float,
}


def resolve_plain(text: str) -> ScalarValue:
    """A plain (unquoted) scalar under the YAML 1.2 core schema."""
    for convert in (_as_null, _as_bool, _as_int, _as_float):
        ok, value = convert(text)
        if ok:
            return value
    return text


@dataclass(frozen=True)
class Document:
    root: Token | None
    problems: list[Problem]


_STYLE_NAMES = {"'": "SingleQuoted", '"': "DoubleQuoted", "|": "Literal", ">": "Folded"}


class _Builder:
    def __init__(self) -> None:
        self.anchors: dict[str, Token] = {}
        self.problems: list[Problem] = []

    def scalar(self, event: ScalarEvent) -> Scalar:
        start, end = event.start_mark, event.end_mark
        line, col = start.line + 1, start.column + 1
        style = event.style or None  # libyaml says "" for plain
        value: ScalarValue
        tag = event.tag
        tag_name = str(tag.value if hasattr(tag, "value") else tag) if tag else ""
        if tag_name and tag_name != "!":
            value = self._tagged(tag_name, event.value, style, line, col)
        elif style is None:
            value = resolve_plain(event.value)
        else:
            value = event.value
        return Scalar(value, line, col, end.line + 1, style, end.column + 1)

    def _tagged(self, tag: str, text: str, style: str | None, line: int, col: int) -> ScalarValue:
        short = tag.removeprefix("!!")
        full = tag if tag.startswith(_CORE) else _CORE + short
        kind = full.removeprefix(_CORE)
        if kind == "str":
            return text
        convert = _TAGGED.get(kind)
        if convert is None:
            self.problems.append(Problem(f"Unexpected tag '{full}'"))
            return text
        if style is not None:
            self.problems.append(
                Problem(
                    f"The scalar style '{_STYLE_NAMES.get(style, style)}' on line {line} and "
                    f"column {col} is not valid with the tag '{full}'"
                )
            )
            return text
        ok, value = convert(text)
        if not ok:
            self.problems.append(
                Problem(
                    f"The value '{text}' on line {line} and column {col} is invalid for the type "
                    f"'{full}'"
                )
            )
            return text
        return value  # type: ignore[no-any-return]

    def build(self, events: _Peekable) -> Token:
        event = next(events)
        token: Token
        if isinstance(event, AliasEvent):
            found = self.anchors.get(event.anchor)
            if found is None:
                mark = event.start_mark
                raise _Broken(f"unknown alias '{event.anchor}'", mark.line + 1, mark.column + 1)
            return found
        if isinstance(event, ScalarEvent):
            token = self.scalar(event)
        elif isinstance(event, SequenceStartEvent):
            seq = Seq([], event.start_mark.line + 1, event.start_mark.column + 1)
            token = seq
            while not isinstance(events.peek(), CollectionEndEvent):
                seq.items.append(self.build(events))
            next(events)
        elif isinstance(event, MappingStartEvent):
            mapping = Map([], event.start_mark.line + 1, event.start_mark.column + 1)
            token = mapping
            while not isinstance(events.peek(), CollectionEndEvent):
                key = self.build(events)
                value = self.build(events)
                if not isinstance(key, Scalar):
                    self.problems.append(
                        Problem("A mapping key must be a scalar", getattr(key, "line", 0), key.col)
                    )
                    continue
                if isinstance(value, Scalar) and value.value is None and value.style is None:
                    # An empty value stands right after its key's colon, as GitHub reports it.
                    value.line, value.col = key.end_line, key.end_col + 1
                mapping.pairs.append((key, value))
            next(events)
        else:
            raise _Broken(f"unexpected YAML event {type(event).__name__}", 1, 1)
        # Anchors count once their node is complete, so an alias can never form a cycle.
        self._remember(event, token)
        return token

    def _remember(self, event: Any, token: Token) -> None:
        if getattr(event, "anchor", None):
            self.anchors[event.anchor] = token


class _Peekable:
    def __init__(self, source: Iterator[Any]) -> None:
        self.source = source
        self.head: list[Any] = []

    def __iter__(self) -> _Peekable:
        return self

    def __next__(self) -> Any:
        return self.head.pop() if self.head else next(self.source)

    def peek(self) -> Any:
        if not self.head:
            self.head.append(next(self.source))
        return self.head[0]


class _Broken(Exception):
    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.problem = Problem(message, line, col)


def read_tokens(text: str) -> Document:
    """Parse one YAML document into tokens; YAML errors become problems with positions."""
    # The event stream only: values are resolved here under the 1.2 core schema. libyaml's
    # parser (ruamel.yaml.clib) when installed, else the pure one, which is 10x slower.
    yaml = YAML(typ="safe")
    builder = _Builder()
    try:
        events = _Peekable(iter(yaml.parse(text)))
        root: Token | None = None
        for event in events:
            if type(event).__name__ == "DocumentStartEvent":
                if isinstance(events.peek(), CollectionEndEvent) or (
                    type(events.peek()).__name__ == "DocumentEndEvent"
                ):
                    break
                root = builder.build(events)
                break
        return Document(root, builder.problems)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        return Document(None, [Problem(f"invalid YAML: {exc.problem or exc.context}", line, col)])
    except YAMLError as exc:
        return Document(None, [Problem(f"invalid YAML: {exc}")])
    except RecursionError:
        return Document(None, [Problem("Maximum object depth exceeded")])
    except _Broken as exc:
        return Document(None, [exc.problem])


def plain(token: Token | None) -> Any:
    """Tokens -> plain Python data (keys as strings, as GitHub reads them)."""
    if isinstance(token, Scalar):
        return token.value
    if isinstance(token, Seq):
        return [plain(item) for item in token.items]
    if isinstance(token, Map):
        return {k.text(): plain(v) for k, v in token.pairs}
    return None


def locate(root: Token | None, path: Sequence[str | int]) -> tuple[int, int]:
    """1-based position of the value at `path` (or of the deepest part of it that exists)."""
    node, line, col = root, 1, 1
    if node is not None:
        line, col = node.line, node.col
    for key in path:
        if isinstance(node, Map):
            found = node.get(str(key))
            if found is None:
                break
            node = found
        elif isinstance(node, Seq) and isinstance(key, int) and 0 <= key < len(node.items):
            node = node.items[key]
        else:
            continue
        line, col = node.line, node.col
    return line, col
