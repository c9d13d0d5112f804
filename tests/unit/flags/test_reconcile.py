"""Flags from a file: created and applied where the file changed them, changes by hand kept as
drift unless self-heal, problems said and nothing else stopped (a real SQLite store, real
YAML files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.common.errors import UserError
from lockgate.flags.desired import read_flags_file
from lockgate.flags.guard import percent
from lockgate.flags.reconcile import FlagsReconciler, Reconciled
from lockgate.flags.service import FlagService
from lockgate.store import Store
from lockgate.store.flags import FlagRecords
from lockgate.store.flagsync import FlagSyncRecords

FILE = """\
segments:
  nordics:
    constraints:
      - {contextName: country, operator: IN, values: [NO, SE]}
flags:
  new-checkout:
    description: the one-page checkout
    environments:
      production:
        enabled: true
        strategies:
          - name: flexibleRollout
            parameters: {rollout: "ROLLOUT", groupId: new-checkout}
            segments: [nordics]
      staging: {enabled: true}
"""


@pytest.fixture
def world(tmp_path: Path) -> tuple[FlagService, FlagsReconciler, Path]:
    store = Store(f"sqlite:///{tmp_path / 'flags.db'}")
    service = FlagService(FlagRecords(store))
    return service, FlagsReconciler(service, FlagSyncRecords(store), "test"), tmp_path / "f.yaml"


def run(world: tuple[FlagService, FlagsReconciler, Path], rollout: int, **how: bool) -> Reconciled:
    _, reconciler, path = world
    path.write_text(FILE.replace("ROLLOUT", str(rollout)))
    apply, self_heal = how.get("apply", True), how.get("self_heal", False)
    return reconciler.run(read_flags_file(path), f"r{rollout}", "git", apply, self_heal)


def share(service: FlagService, environment: str = "production") -> int | None:
    return percent(service.feature("new-checkout", environment))


def test_a_file_creates_and_applies_and_a_second_pass_changes_nothing(world: tuple) -> None:
    service = world[0]
    planned = run(world, 25, apply=False)
    assert planned.actions == ["would segment nordics: create", "would new-checkout: create "
                               "(release)", "would new-checkout in production: apply",
                               "would new-checkout in staging: apply"]  # fmt: skip
    assert service.records.all() == []  # a plan changes nothing
    done = run(world, 25)
    assert done.problems == [] and len(done.actions) == 4
    assert share(service) == 25 and share(service, "staging") == 100
    assert service.records.changes("new-checkout")[0].actor == "git"
    assert run(world, 25) == Reconciled()


def test_a_change_by_hand_is_drift_until_the_file_changes_or_self_heal(world: tuple) -> None:
    service = world[0]
    run(world, 25)
    service.switch("new-checkout", "production", False, "oncall", because="incident 42")
    kept = run(world, 25)
    assert kept.actions == [] and [d.environment for d in kept.drift] == ["production"]
    assert share(service) is None  # the kill switch holds
    healed = run(world, 25, self_heal=True)
    assert healed.actions == ["new-checkout in production: revert the change by hand"]
    assert share(service) == 25
    service.switch("new-checkout", "production", False, "oncall")
    changed = run(world, 50)  # the file moved on: its new state wins, as in Argo CD
    assert changed.actions == ["new-checkout in production: apply"] and share(service) == 50


def test_what_cannot_be_applied_is_said_and_the_rest_applied(world: tuple) -> None:
    service = world[0]
    service.create("new-checkout", "kill-switch", "", "ana")
    service.create("old", "release", "", "ana")
    service.archive("old", "ana", "done")
    _, reconciler, path = world
    path.write_text(
        FILE.replace("ROLLOUT", "25")
        + """\
  old:
    environments: {production: {enabled: true}}
  broken:
    environments:
      production:
        strategies: [{name: default, segments: [missing]}]
"""
    )
    done = reconciler.run(read_flags_file(path), "r", "git", True, False)
    assert done.problems == [
        "new-checkout: it is a kill-switch flag, the file says release; a flag's type does not "
        "change",
        "old: archived, so its name is never used again; rename the flag in the file",
        "broken in production: flag 'broken' in production: no segment named 'missing'",
    ]
    assert share(service) == 25  # what could be applied was


def test_a_bad_file_is_refused_at_its_line(tmp_path: Path) -> None:
    for text, said in [("flags: {x: {type: forever}}\n", "1:19: flags.x.type"),
                       ("flagz: {}\n", "unknown key 'flagz'"),
                       ("segments: {s: {constraints: []}}\n", "1:29: segments.s.constraints"),
                       ("flags: [1\n", "invalid YAML")]:  # fmt: skip
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(UserError) as raised:
            read_flags_file(path)
        assert said in str(raised.value), str(raised.value)
