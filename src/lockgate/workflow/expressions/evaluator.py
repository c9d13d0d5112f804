"""Evaluates a parsed expression against contexts and functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import values as v
from .ast import Call, Compare, Context, Group, Index, Literal, Logical, Node, Not, Star
from .errors import ExpressionError
from .values import FilteredArray, Value

# The runner refuses expressions whose intermediate strings outgrow this many bytes (UTF-16).
MAX_MEMORY_BYTES = 1024 * 1024

Function = Callable[..., Value]


def lookup(mapping: Mapping[str, Any], key: str) -> tuple[bool, Value]:
    """Case-insensitive key lookup, exact spelling first."""
    if key in mapping:
        return True, mapping[key]
    folded = key.lower()
    for name, item in mapping.items():
        if isinstance(name, str) and name.lower() == folded:
            return True, item
    return False, None


class Evaluator:
    def __init__(
        self, contexts: Mapping[str, Value], functions: Mapping[str, Function] | None = None
    ) -> None:
        self.contexts = contexts
        self.functions: dict[str, Function] = {**BUILTINS, **(functions or {})}
        self.memory = 0

    def evaluate(self, node: Node | None) -> Value:
        return None if node is None else self.eval(node)

    def eval(self, node: Node) -> Value:
        match node:
            case Literal(value):
                return value
            case Group(inner):
                return self.eval(inner)
            case Context(name):
                return lookup(self.contexts, name)[1]
            case Not(operand):
                return v.falsy(self.eval(operand))
            case Logical(operator, operands):
                result: Value = None
                for operand in operands:
                    result = self.eval(operand)
                    if (operator == "&&") == v.falsy(result):
                        break
                return result
            case Compare(left, operator, right):
                return _compare(self.eval(left), operator, self.eval(right))
            case Index(target, index):
                return self.index(target, index)
            case Call(name, args, _):
                if name == "case":
                    return self.case(args)
                result = self.functions[name](*(self.eval(a) for a in args))
                self.account(result)
                return result
        raise AssertionError(f"unknown node {node!r}")

    def account(self, result: Value) -> None:
        if isinstance(result, str):
            self.memory += 2 * len(result)
            if self.memory > MAX_MEMORY_BYTES:
                raise ExpressionError("evaluation", "The maximum allowed memory size was exceeded")

    def case(self, args: tuple[Node, ...]) -> Value:
        for i in range(0, len(args) - 1, 2):
            predicate = self.eval(args[i])
            if not isinstance(predicate, bool):
                raise ExpressionError(
                    "evaluation", "case predicate must evaluate to a boolean value"
                )
            if predicate:
                return self.eval(args[i + 1])
        return self.eval(args[-1])

    def index(self, target: Node, index: Node | Star) -> Value:
        star = isinstance(index, Star)
        key = None if isinstance(index, Star) else self.eval(index)
        obj = self.eval(target)
        if isinstance(obj, FilteredArray):
            out = FilteredArray()
            for item in obj:
                if star and isinstance(item, dict | list):
                    out.extend(item.values() if isinstance(item, dict) else item)
                elif not star:
                    found, value = _access(item, key)
                    if found:
                        out.append(value)
            return out
        if star:
            if isinstance(obj, dict):
                return FilteredArray(obj.values())
            return FilteredArray(obj) if isinstance(obj, list) else FilteredArray()
        return _access(obj, key)[1]


def _access(obj: Value, key: Value) -> tuple[bool, Value]:
    if isinstance(obj, dict):
        return lookup(obj, key) if isinstance(key, str) else _string_key(obj, key)
    if isinstance(obj, list):
        number = v.to_number(key) if not isinstance(key, list | dict) else float("nan")
        if number == number and number >= 0 and number < len(obj):
            return True, obj[int(number)]
    return False, None


def _string_key(obj: dict[str, Value], key: Value) -> tuple[bool, Value]:
    if isinstance(key, list | dict):
        return False, None
    return lookup(obj, v.to_string(key))


def _compare(left: Value, operator: str, right: Value) -> bool:
    if operator == "==":
        return v.equals(left, right)
    if operator == "!=":
        return not v.equals(left, right)
    order = v.compare(left, right)
    if order is None:
        return False
    return {">": order > 0, ">=": order >= 0, "<": order < 0, "<=": order <= 0}[operator]


# -- built-in functions -------------------------------------------------------


def _contains(search: Value, item: Value) -> bool:
    if v.is_primitive(search):
        if not v.is_primitive(item):
            return False
        return v.upper(v.to_string(item)) in v.upper(v.to_string(search))
    if isinstance(search, list):
        return any(v.equals(item, element) for element in search)
    return False


def _affix(check: Callable[[str, str], bool]) -> Function:
    def call(text: Value, affix: Value) -> bool:
        if not (v.is_primitive(text) and v.is_primitive(affix)):
            return False
        return check(v.upper(v.to_string(text)), v.upper(v.to_string(affix)))

    return call


def _join(items: Value, separator: Value = ",") -> str:
    if v.is_primitive(items):
        return v.to_string(items)
    if isinstance(items, list):
        sep = v.to_string(separator) if v.is_primitive(separator) else ","
        return sep.join(v.to_string(item) for item in items)
    return ""


def _format(template: Value, *args: Value) -> str:
    fmt = v.to_string(template)

    def invalid() -> ExpressionError:
        return ExpressionError("evaluation", f"The following format string is invalid: {fmt}")

    out: list[str] = []
    i = 0
    while i < len(fmt):
        left, right = fmt.find("{", i), fmt.find("}", i)
        if left >= 0 and (right < 0 or right > left):
            if fmt[left + 1 : left + 2] == "{":
                out.append(fmt[i : left + 1])
                i = left + 2
                continue
            digits = fmt[left + 1 : right]
            if right > left + 1 and digits.isdigit() and digits.isascii():
                if int(digits) + 1 > len(args):
                    raise ExpressionError(
                        "evaluation",
                        f"The following format string references more arguments than were "
                        f"supplied: {fmt}",
                    )
                out.append(fmt[i:left])
                out.append(v.to_string(args[int(digits)]))
                i = right + 1
                continue
            raise invalid()
        if right >= 0:
            if fmt[right + 1 : right + 2] != "}":
                raise invalid()
            out.append(fmt[i : right + 1])
            i = right + 2
        else:
            out.append(fmt[i:])
            break
    return "".join(out)


def _from_json(text: Value) -> Value:
    source = v.to_string(text)
    try:
        return v.from_json_text(source)
    except ValueError as exc:
        shown = source if len(source) <= 80 else source[:77] + "..."
        raise ExpressionError("evaluation", f"fromJSON: invalid JSON {shown!r}: {exc}") from exc


BUILTINS: dict[str, Function] = {
    "contains": _contains,
    "startswith": _affix(str.startswith),
    "endswith": _affix(str.endswith),
    "format": _format,
    "join": _join,
    "tojson": v.to_json,
    "fromjson": _from_json,
}
