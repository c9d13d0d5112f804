"""Expression values and GitHub's coercion rules.

Values are plain Python data: None, bool, float (int accepted), str, list, dict.
Objects and arrays compare by identity, strings case-insensitively, mixed kinds
through numbers, exactly as the Actions runner does.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

Value = Any

_HEX = re.compile(r"0x[0-9a-fA-F]+")
_OCT = re.compile(r"0o[0-7]+")
_BIN = re.compile(r"0b[01]+")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class FilteredArray(list[Any]):
    """Result of a `.*` / `[*]` object filter; later property access maps over it."""


def kind(value: Value) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"


def is_primitive(value: Value) -> bool:
    return not isinstance(value, list | dict)


def parse_number(text: str) -> float:
    """JavaScript's Number(string): what GitHub uses to turn strings into numbers."""
    s = text.strip()
    if s == "":
        return 0.0
    if s in ("Infinity", "+Infinity"):
        return math.inf
    if s == "-Infinity":
        return -math.inf
    for pattern, base in ((_HEX, 16), (_OCT, 8), (_BIN, 2)):
        if pattern.fullmatch(s):
            return float(int(s[2:], base))
    if _DECIMAL.fullmatch(s):
        return float(s)
    return math.nan


def to_number(value: Value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_number(value)
    return math.nan


def format_number(value: float) -> str:
    """JavaScript's Number#toString after GitHub's 15-digit precision cap."""
    if value == 0:
        return "0"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if abs(value) < 1e21:
        value = float(f"{value:.15f}")
        if value == 0:
            return "0"
    return _js_number_string(value)


def _js_number_string(value: float) -> str:
    """Number#toString: shortest round-trip digits, exponent form outside 1e-7..1e21."""
    sign, digit_tuple, exp = Decimal(repr(abs(value))).normalize().as_tuple()
    del sign
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + int(exp)  # value = 0.<digits> * 10**n
    prefix = "-" if value < 0 else ""
    if k <= n <= 21:
        return prefix + digits + "0" * (n - k)
    if 0 < n <= 21:
        return prefix + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return prefix + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{prefix}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def to_string(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(float(value))
    if isinstance(value, str):
        return value
    return "Array" if isinstance(value, list) else "Object"


def falsy(value: Value) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0 or math.isnan(value)
    if isinstance(value, str):
        return value == ""
    return False


def truthy(value: Value) -> bool:
    return not falsy(value)


def upper(text: str) -> str:
    """Upper-case for ordinal-ignore-case comparison; the dotless i stays as it is."""
    return "ı".join(part.upper() for part in text.split("ı"))


def _coerce(left: Value, right: Value) -> tuple[Value, Value]:
    lk, rk = kind(left), kind(right)
    if lk == rk:
        return left, right
    if lk == "Number" and rk == "String":
        return left, to_number(right)
    if lk == "String" and rk == "Number":
        return to_number(left), right
    if lk in ("Null", "Boolean"):
        return _coerce(to_number(left), right)
    if rk in ("Null", "Boolean"):
        return _coerce(left, to_number(right))
    return left, right


def equals(left: Value, right: Value) -> bool:
    lv, rv = _coerce(left, right)
    lk = kind(lv)
    if lk != kind(rv):
        return False
    if lk == "Null":
        return True
    if lk == "Number":
        return not (math.isnan(lv) or math.isnan(rv)) and float(lv) == float(rv)
    if lk == "String":
        return upper(lv) == upper(rv)
    if lk == "Boolean":
        return bool(lv == rv)
    return lv is rv


def compare(left: Value, right: Value) -> int | None:
    """-1, 0 or 1 when the values are ordered, None when they are not comparable."""
    lv, rv = _coerce(left, right)
    lk = kind(lv)
    if lk != kind(rv):
        return None
    if lk == "Number":
        if math.isnan(lv) or math.isnan(rv):
            return None
        return int(lv > rv) - int(lv < rv)
    if lk == "String":
        a, b = upper(lv), upper(rv)
        return (a > b) - (a < b)
    if lk == "Boolean":
        return int(lv) - int(rv)
    return None


def to_json(value: Value, indent: str = "") -> str:
    """JSON.stringify(value, null, 2), the layout toJSON() produces on GitHub."""
    inner = indent + "  "
    if isinstance(value, list):
        if not value:
            return "[]"
        items = ",\n".join(inner + to_json(v, inner) for v in value)
        return f"[\n{items}\n{indent}]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = ",\n".join(
            f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {to_json(v, inner)}"
            for k, v in value.items()
        )
        return f"{{\n{pairs}\n{indent}}}"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return "null"
    return "0" if number == 0 else _js_number_string(number)


MAX_JSON_DEPTH = 64


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text (strings skipped), in one pass."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def from_json_text(text: str) -> Value:
    def reject_constant(name: str) -> Value:
        raise ValueError(f"invalid JSON constant {name}")

    if json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"arrays and objects nest deeper than {MAX_JSON_DEPTH} levels")

    return json.loads(text, parse_int=lambda s: float(int(s)), parse_constant=reject_constant)
