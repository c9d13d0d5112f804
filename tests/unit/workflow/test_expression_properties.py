"""Property tests: any input gives a value or a clean ExpressionError, never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lockgate.workflow.expressions import ExpressionError, evaluate
from lockgate.workflow.expressions.values import format_number, parse_number, to_json
from lockgate.workflow.template import render

CONTEXTS = {"github": {"ref": "refs/heads/main", "n": 3, "list": [1, "a", None]}, "env": {}}
ALPHABET = "abgithu.*[]()'!=<>&|, 0123456789-+eE_xnul"
TOKENS = st.sampled_from(
    [
        "github",
        ".ref",
        ".n",
        ".list",
        "[0]",
        "[*]",
        ".*",
        "==",
        "!=",
        "<",
        ">=",
        "&&",
        "||",
        "!",
        "(",
        ")",
        "'x'",
        "1",
        "0.5",
        "null",
        "true",
        "format(",
        "contains(",
        "toJSON(",
        "fromJSON(",
        ",",
        "case(",
        "join(",
        " ",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_random_text_never_crashes(source: str) -> None:
    try:
        evaluate(source, CONTEXTS)
    except ExpressionError as exc:
        assert exc.kind in ("lexing", "parsing", "evaluation") and exc.message


@settings(max_examples=400, deadline=None)
@given(st.lists(TOKENS, max_size=12).map("".join))
def test_token_soup_never_crashes(source: str) -> None:
    try:
        evaluate(source, CONTEXTS)
    except ExpressionError as exc:
        assert exc.message


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_formatting_round_trips_within_15_digits(value: float) -> None:
    text = format_number(value)
    parsed = parse_number(text)
    assert parsed == value or abs(parsed - value) <= abs(value) * 1e-14 + 1e-15


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.text(max_size=5) | st.integers(-1000, 1000).map(float),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(min_size=1, max_size=3), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_tojson_fromjson_round_trip(value: object) -> None:
    assert evaluate("fromJSON(toJSON(v))", {"v": value}) == value
    assert isinstance(to_json(value), str)


def test_template_keeps_type_of_a_whole_expression() -> None:
    assert render("${{ github.n }}", lambda s: evaluate(s, CONTEXTS)) == 3
    assert render("n=${{ github.n }}!", lambda s: evaluate(s, CONTEXTS)) == "n=3!"
    assert render("${{ '}}' }}", lambda s: evaluate(s, CONTEXTS)) == "}}"
