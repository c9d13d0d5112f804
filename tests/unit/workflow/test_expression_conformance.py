"""GitHub's own expression test vectors, run against lockgate's evaluator."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from lockgate.workflow.expressions import ExpressionError, evaluate
from lockgate.workflow.expressions.values import kind

from ...conftest import CONFORMANCE, need

VECTORS = CONFORMANCE / "gha-expressions"


def _cases() -> list[Any]:
    if not VECTORS.is_dir():
        return [pytest.param(None, id="conformance-data-missing")]
    params = []
    for path in sorted(VECTORS.glob("*.json")):
        for group, cases in json.loads(path.read_text()).items():
            for n, case in enumerate(cases):
                params.append(pytest.param(case, id=f"{path.stem}/{group}/{n}"))
    return params


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float | int) and not isinstance(expected, bool):
        if isinstance(actual, bool) or not isinstance(actual, float | int):
            return False
        if math.isnan(expected):
            return math.isnan(actual)
        return float(actual) == float(expected) and math.copysign(1, actual) == math.copysign(
            1, expected
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_same(actual[k], expected[k]) for k in expected)
        )
    return type(actual) is type(expected) and actual == expected


def _head(message: str) -> str:
    """The part of an error message before the position, which every runner words alike."""
    return message.split(". Located at position")[0]


@pytest.mark.parametrize("case", _cases())
def test_github_expression_vector(case: Any) -> None:
    need(case is not None, f"conformance vectors not found at {VECTORS}")
    contexts = case.get("contexts", {})
    expr = case["expr"]
    if "err" in case:
        with pytest.raises(ExpressionError) as caught:
            evaluate(expr, contexts)
        expected = case["err"]["value"]
        assert caught.value.kind == case["err"]["kind"]
        assert caught.value.message.startswith(_head(expected))
        if "within expression" in expected:
            assert caught.value.message == expected
        return
    result = evaluate(expr, contexts)
    expected = case["result"]
    kinds = {"Dictionary": "Object"}
    assert kind(result) == kinds.get(expected["kind"], expected["kind"])
    if expected["kind"] == "Number" and isinstance(expected["value"], str):
        assert _same(result, float(expected["value"]))
    else:
        assert _same(result, expected["value"]), (result, expected["value"])
