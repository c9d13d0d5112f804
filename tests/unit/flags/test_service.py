"""Changing flags: checked, stored with their audit, names never reused (a real SQLite store)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.flags.context import Context
from lockgate.flags.debt import DAY
from lockgate.flags.evaluate import Evaluator
from lockgate.flags.service import FlagService
from lockgate.store import Store
from lockgate.store.flags import FlagRecords


@pytest.fixture
def flags(tmp_path: Path) -> FlagService:
    return FlagService(FlagRecords(Store(f"sqlite:///{tmp_path / 'flags.db'}")))


def test_an_archived_name_is_never_used_again(flags: FlagService) -> None:
    flags.create("power-peg", "release", "", "alice")
    flags.archive("power-peg", "bob", "replaced by smars")
    with pytest.raises(UserError) as refused:
        flags.create("power-peg", "release", "reused", "carol")
    assert "never used again" in refused.value.message
    assert "by bob: replaced by smars" in refused.value.message
    with pytest.raises(UserError, match="is archived"):
        flags.switch("power-peg", "production", True, "carol")
    assert [r.name for r in flags.records.all()] == []
    assert [r.name for r in flags.records.all(archived=True)] == ["power-peg"]


def test_a_rollout_keeps_its_constraints_and_every_change_is_recorded(flags: FlagService) -> None:
    flags.create("checkout", "experiment", "", "alice")
    flags.define("checkout", "production", {"enabled": True, "strategies": [
        {"name": "flexibleRollout", "parameters": {"rollout": "5"},
         "constraints": [{"contextName": "country", "operator": "IN", "values": ["NO"]}]}]},
        "alice")  # fmt: skip
    flags.rollout("checkout", "production", 100, "bob")
    feature = flags.feature("checkout", "production")
    (strategy,) = feature.strategies
    assert strategy.parameters == {"rollout": "100", "stickiness": "default", "groupId": "checkout"}
    assert [c.values for c in strategy.constraints] == [("NO",)]
    evaluator = Evaluator(flags.client_features("production"))
    assert evaluator.enabled("checkout", Context(user_id="1", properties={"country": "NO"}))
    assert not evaluator.enabled("checkout", Context(user_id="1", properties={"country": "SE"}))
    assert not Evaluator(flags.client_features("staging")).enabled("checkout", Context())
    changes = flags.records.changes("checkout")
    assert [(c.actor, c.summary) for c in changes] == [
        ("bob", "rolled out to 100% in production (stickiness default)"),
        ("alice", "defined in production"),
        ("alice", "created (experiment)"),
    ]
    assert changes[0].before is not None and changes[0].before["strategies"][0]["parameters"] == {
        "rollout": "5"
    }


def test_bad_definitions_are_refused_with_where_and_nothing_stored(flags: FlagService) -> None:
    flags.create("f", "release", "", "alice")
    revision = flags.records.revision()
    for document, said in [
        ({"strategies": [{"parameters": {}}]}, "strategies.0.name: Field required"),
        ({"variants": [{"name": "a", "weight": 0}]}, "weights add up to 0"),
        ({"variants": [{"name": "a", "weight": -1}, {"name": "b", "weight": 2}]}, "negative"),
        ({"enabled": "perhaps"}, "enabled: Input should be a valid boolean"),
        ({"strategies": [{"name": "default", "segments": [1]}]}, "no segment has the id 1"),
        ({"strategies": [{"name": "default", "segments": ["vip"]}]}, "no segment named 'vip'"),
        (
            {
                "strategies": [
                    {"name": "default", "constraints": [{"contextName": "a", "operator": "IS"}]}
                ]
            },
            "unknown operator 'IS'",
        ),
        (
            {
                "strategies": [
                    {"name": "default", "constraints": [{"contextName": "a", "operator": "IN"}]}
                ]
            },
            "IN needs `values`",
        ),
        (
            {
                "strategies": [
                    {"name": "default", "constraints": [{"contextName": "a", "operator": "NUM_GT"}]}
                ]
            },
            "NUM_GT needs a `value`",
        ),
    ]:
        with pytest.raises(UserError, match=said):
            flags.define("f", "production", document, "alice")
    for name, kind, said in [("a b", "release", "cannot name a flag"),
                             ("ok", "forever", "unknown flag type")]:  # fmt: skip
        with pytest.raises(UserError, match=said):
            flags.create(name, kind, "", "alice")
    with pytest.raises(UserError, match="0 to 100"):
        flags.rollout("f", "production", 101, "alice")
    with pytest.raises(UserError, match="cannot name an environment"):
        flags.switch("f", "../etc", True, "alice")
    assert flags.records.revision() == revision


def test_debt_names_settled_flags_and_where_code_still_reads_them(
    flags: FlagService, tmp_path: Path
) -> None:
    flags.create("everyone", "release", "", "alice")
    flags.rollout("everyone", "production", 100, "alice")
    flags.create("half", "release", "", "alice")
    flags.rollout("half", "production", 50, "alice")
    flags.create("switch", "kill-switch", "", "alice")
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text('if flags.enabled("everyone"):\n    pass\n')
    later = time.time() + 20 * DAY
    found = {d.flag: d for d in flags.debts(later, 14, code)}
    assert set(found) == {"everyone"}
    assert found["everyone"].reasons == ["on for everyone in production for 20 days"]
    assert found["everyone"].references == ["app.py:1"]
    assert flags.debts(time.time(), 14, None) == []


def test_segments_are_shared_by_name_and_inlined_for_old_sdks(flags: FlagService) -> None:
    nordics = [{"contextName": "country", "operator": "IN", "values": ["NO", "SE"]}]
    segment = flags.define_segment("nordics", "", nordics, "alice")
    flags.create("f", "release", "", "alice")
    flags.define("f", "production", {"enabled": True, "strategies": [
        {"name": "default", "segments": ["nordics"]}]}, "alice")  # fmt: skip
    served = flags.client_features("production")
    assert served.features[0].strategies[0].segments == (segment.id,)
    assert [s.name for s in served.segments] == ["nordics"]
    evaluator = Evaluator(served)
    assert evaluator.enabled("f", Context(properties={"country": "NO"}))
    assert not evaluator.enabled("f", Context(properties={"country": "DK"}))
    old = flags.client_features("production", inline_segments=True)
    (strategy,) = old.features[0].strategies
    assert strategy.segments == () and strategy.constraints[0].values == ("NO", "SE")
    assert old.segments == ()

    revision = flags.records.revision()
    flags.define_segment("nordics", "", [{**nordics[0], "values": ["DK"]}], "bob")
    assert flags.records.revision() > revision  # SDKs fetch again
    assert Evaluator(flags.client_features("production")).enabled(
        "f", Context(properties={"country": "DK"})
    )
    with pytest.raises(UserError, match="used by f"):
        flags.remove_segment("nordics", "bob")
    for constraints, said in [([], "no constraints"), ("x", "constraints"),
                              ([{"contextName": "a", "operator": "NOPE"}], "unknown operator")]:  # fmt: skip
        with pytest.raises(UserError, match=said):
            flags.define_segment("other", "", constraints, "bob")
    flags.define("f", "production", {"enabled": True}, "alice")
    flags.remove_segment("nordics", "bob")
    assert flags.records.segments() == []
    assert flags.records.changes("segment:nordics")[0].summary == "segment removed"
