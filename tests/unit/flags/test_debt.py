"""Flag debt and where code names a flag."""

from __future__ import annotations

from pathlib import Path

from lockgate.flags.debt import DAY, assess, settled
from lockgate.flags.definitions import Feature, Strategy
from lockgate.flags.refs import references
from lockgate.store.flags import FlagKind, FlagRecord, FlagState

NOW = 1_000 * DAY


def _state(enabled: bool, changed_days_ago: float, strategies: list[dict]) -> FlagState:  # type: ignore[type-arg]
    return FlagState("f", "production", enabled, strategies, [], NOW - changed_days_ago * DAY)


def _feature(state: FlagState) -> Feature:
    return Feature.model_validate({"name": "f", "enabled": state.enabled,
                                   "strategies": state.strategies})  # fmt: skip


def test_settled_means_the_same_answer_for_everyone() -> None:
    assert settled(Feature(name="f", enabled=False)) == "off"
    assert settled(Feature(name="f", enabled=True)) == "on"
    everyone = Strategy(name="flexibleRollout", parameters={"rollout": "100"})
    some = Strategy(name="flexibleRollout", parameters={"rollout": "99"})
    assert settled(Feature(name="f", enabled=True, strategies=(everyone,))) == "on"
    assert settled(Feature(name="f", enabled=True, strategies=(some,))) is None
    targeted = Strategy.model_validate({"name": "default", "constraints": [
        {"contextName": "country", "operator": "IN", "values": ["NO"]}]})  # fmt: skip
    assert settled(Feature(name="f", enabled=True, strategies=(targeted,))) is None


def test_old_flags_and_long_settled_ones_are_debt_but_kill_switches_are_not() -> None:
    def record(kind: FlagKind, age_days: float) -> FlagRecord:
        return FlagRecord("f", kind, "", NOW - age_days * DAY, "alice")

    on_long = _state(True, 30, [])
    rolling = _state(True, 30, [{"name": "flexibleRollout", "parameters": {"rollout": "10"}}])
    assert assess(record(FlagKind.RELEASE, 10), [("production", _feature(rolling), rolling)],
                  NOW, 14) == []  # fmt: skip
    assert assess(record(FlagKind.RELEASE, 41), [("production", _feature(rolling), rolling)],
                  NOW, 14) == ["41 days old; a release flag is expected to live 40"]  # fmt: skip
    assert assess(record(FlagKind.OPERATIONAL, 5), [("production", _feature(on_long), on_long)],
                  NOW, 14) == ["on for everyone in production for 30 days"]  # fmt: skip
    assert assess(record(FlagKind.KILL_SWITCH, 400), [("production", _feature(on_long), on_long)],
                  NOW, 14) == []  # fmt: skip


def test_references_are_whole_names_in_text_files_only(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(
        'if flags.enabled("new-checkout"):\n    pass\nold = "new-checkout-v2"\nnew_checkout = 1\n'
    )
    (tmp_path / "src" / "App.tsx").write_text("useFlag('new-checkout') && useFlag('dark')\n")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x.js").write_text("'new-checkout'\n")
    (tmp_path / "blob.bin").write_bytes(b"\0new-checkout")
    found = references(tmp_path, ["new-checkout", "dark", "gone"])
    assert found == {"new-checkout": ["src/App.tsx:1", "src/app.py:1"], "dark": ["src/App.tsx:1"]}
