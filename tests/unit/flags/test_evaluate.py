"""Flag evaluation's own logic (Unleash's specification cases run in tests/e2e/test_flags.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lockgate.flags import semver
from lockgate.flags.context import Context
from lockgate.flags.definitions import ClientFeatures, Constraint, Feature, Strategy
from lockgate.flags.evaluate import Evaluator, bucket
from lockgate.flags.rustregex import Unsupported, compile_rust


def _rollout(percent: int) -> Evaluator:
    strategy = Strategy(
        name="flexibleRollout",
        parameters={"rollout": str(percent), "stickiness": "default", "groupId": "f"},
    )
    return Evaluator(ClientFeatures(features=(Feature(name="f", enabled=True,
                                                      strategies=(strategy,)),)))  # fmt: skip


@given(st.text(min_size=1, max_size=40), st.integers(0, 100), st.integers(0, 100))
def test_a_user_who_has_the_flag_keeps_it_as_the_rollout_grows(
    user: str, low: int, high: int
) -> None:
    low, high = sorted((low, high))
    context = Context(user_id=user)
    if _rollout(low).enabled("f", context):
        assert _rollout(high).enabled("f", context)


def test_buckets_are_unleashs() -> None:
    # Values every Unleash SDK computes (MurmurHash3 x86 32-bit of "groupId:userId", seed 0).
    assert bucket("123", "gr1") == 73
    assert bucket("999", "groupX") == 25
    assert all(1 <= bucket(str(n), "g") <= 100 for n in range(1000))


def test_none_of_0_and_all_of_100() -> None:
    users = [Context(user_id=str(n)) for n in range(500)]
    assert not any(_rollout(0).enabled("f", u) for u in users)
    assert all(_rollout(100).enabled("f", u) for u in users)


def test_semver_orders_prereleases_below_their_release() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
               "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0"]  # fmt: skip
    keys = [semver.parse(v).key() for v in ordered]  # type: ignore[union-attr]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert semver.parse("v1.0.0") is None and semver.parse("1.0") is None
    assert semver.parse("1.0.0+build.5") == semver.parse("1.0.0")


def test_rust_patterns_compile_to_the_same_meaning() -> None:
    assert compile_rust("^[[:alpha:]]+$").search("Abc") and not compile_rust(
        "^[[:alpha:]]+$"
    ).search("Ab1")
    mid = compile_rust("^a(?i)bc$")  # the flag holds from where it stands
    assert mid.search("aBC") and not mid.search("ABC")
    grouped = compile_rust("^(x(?i)y)z$")  # ... to the end of its group only
    assert grouped.search("xYz") and not grouped.search("xYZ")
    assert compile_rust(r"^\(?=a$").search("(=a")  # an escaped paren is no look-ahead
    for refused in ("(?=a)b", "(?<!a)b", r"(a)\1", "(?P=x)"):
        try:
            compile_rust(refused)
        except Unsupported:
            continue
        raise AssertionError(f"{refused} compiled")


def test_bad_constraint_values_are_false_and_never_raise() -> None:
    def on(constraint: Constraint, **context: str) -> bool:
        feature = Feature(name="f", enabled=True,
                          strategies=(Strategy(name="default", constraints=(constraint,)),))  # fmt: skip
        return Evaluator(ClientFeatures(features=(feature,))).enabled("f", Context.of(context))

    assert not on(Constraint(contextName="n", operator="NUM_GT", value="x"), n="3")
    assert not on(Constraint(contextName="n", operator="NUM_GT", value="1"), n="three")
    assert not on(Constraint(contextName="d", operator="DATE_AFTER", value="soon"), d="2020-01-01")
    assert not on(Constraint(contextName="v", operator="SEMVER_GT", value="1.0.0"), v="x")
    assert not on(Constraint(contextName="r", operator="REGEX", value="(a"), r="a")
    assert not on(Constraint(contextName="ip", operator="IN_CIDR", values=("10.0.0.0/8",)),
                  ip="not-an-ip")  # fmt: skip
    assert not on(Constraint(contextName="x", operator="SOMETHING_NEW", values=("a",)), x="a")
    assert not on(Constraint(contextName="x", operator="SOMETHING_NEW", values=("a",),
                             inverted=True), x="a")  # fmt: skip


def test_a_segment_the_state_does_not_hold_never_matches() -> None:
    feature = Feature(name="f", enabled=True, strategies=(Strategy(name="default", segments=(7,)),))
    assert not Evaluator(ClientFeatures(features=(feature,))).enabled("f", Context())


def test_the_context_reads_flat_and_nested_fields() -> None:
    context = Context.of({"userId": 42, "country": "NO", "properties": {"plan": "pro"},
                          "beta": True, "gone": None})  # fmt: skip
    assert context.get("userId") == "42" and context.get("country") == "NO"
    assert context.get("plan") == "pro" and context.get("beta") == "true"
    assert context.get("gone") is None
