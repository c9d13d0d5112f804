"""Strategy constraints: one operator against one context field, as Unleash's client
specification defines them. A value an operator cannot read (a bad number, date, version or
pattern) makes the constraint false, never an error in the application."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime

from . import semver
from .context import Context
from .definitions import Constraint
from .rustregex import compile_rust

Check = Callable[[Constraint, str], bool]


def holds(constraint: Constraint, context: Context) -> bool:
    seen = context.get(constraint.context_name)
    if seen is None and constraint.context_name == "currentTime":
        seen = datetime.now(UTC).isoformat()
    check = OPERATORS.get(constraint.operator)
    if check is None:
        return False  # an operator this evaluator does not know: off, inverted or not
    if seen is None:
        result = constraint.operator == "NOT_IN"  # nothing is in no list
    else:
        try:
            result = check(constraint, seen)
        except ValueError:
            result = False
    return result != constraint.inverted


def _in(constraint: Constraint, seen: str) -> bool:
    if constraint.case_insensitive:
        return seen.casefold() in {v.casefold() for v in constraint.values}
    return seen in constraint.values


def _strings(test: Callable[[str, str], bool]) -> Check:
    def check(constraint: Constraint, seen: str) -> bool:
        if constraint.case_insensitive:
            seen = seen.casefold()
            return any(test(seen, v.casefold()) for v in constraint.values)
        return any(test(seen, v) for v in constraint.values)

    return check


def _numbers(test: Callable[[float, float], bool]) -> Check:
    return lambda constraint, seen: test(float(seen), float(constraint.value or "nan"))


def _date(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _dates(test: Callable[[datetime, datetime], bool]) -> Check:
    return lambda constraint, seen: test(_date(seen), _date(constraint.value or ""))


def _versions(test: Callable[[tuple[object, ...], tuple[object, ...]], bool]) -> Check:
    def check(constraint: Constraint, seen: str) -> bool:
        mine, theirs = semver.parse(seen), semver.parse(constraint.value or "")
        return mine is not None and theirs is not None and test(mine.key(), theirs.key())

    return check


def _regex(constraint: Constraint, seen: str) -> bool:
    try:
        pattern = compile_rust(constraint.value or "", constraint.case_insensitive)
    except (ValueError, re.error):
        return False
    return pattern.search(seen) is not None


def _in_cidr(constraint: Constraint, seen: str) -> bool:
    address = ipaddress.ip_address(seen.strip())
    for value in constraint.values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            continue  # one bad entry does not spoil the others
        if address in network:
            return True
    return False


LIST_OPERATORS = {"IN", "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH", "IN_CIDR"}
OPERATORS: dict[str, Check] = {
    "IN": _in,
    "NOT_IN": lambda constraint, seen: not _in(constraint, seen),
    "STR_CONTAINS": _strings(lambda seen, value: value in seen),
    "STR_STARTS_WITH": _strings(lambda seen, value: seen.startswith(value)),
    "STR_ENDS_WITH": _strings(lambda seen, value: seen.endswith(value)),
    "NUM_EQ": _numbers(lambda a, b: a == b),
    "NUM_GT": _numbers(lambda a, b: a > b),
    "NUM_GTE": _numbers(lambda a, b: a >= b),
    "NUM_LT": _numbers(lambda a, b: a < b),
    "NUM_LTE": _numbers(lambda a, b: a <= b),
    "DATE_AFTER": _dates(lambda a, b: a > b),
    "DATE_BEFORE": _dates(lambda a, b: a < b),
    "SEMVER_EQ": _versions(lambda a, b: a == b),
    "SEMVER_GT": _versions(lambda a, b: a > b),
    "SEMVER_GTE": _versions(lambda a, b: a >= b),
    "SEMVER_LT": _versions(lambda a, b: a < b),
    "SEMVER_LTE": _versions(lambda a, b: a <= b),
    "REGEX": _regex,
    "IN_CIDR": _in_cidr,
}
