"""Releases moving through waves, on a real store with stand-in regions: each region records
what it was asked and its rollouts finish when the test says (the regions' reconcilers are
tested on their own). Wave order, a failure stopping the release in its wave, one release
in flight (queued or superseded), policies asked first, rollback."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lockgate.deploy.envfile import EnvironmentFile
from lockgate.deploy.environment import DeployRefused
from lockgate.deploy.policy.facts import Provenance
from lockgate.deploy.waves import Waves
from lockgate.store.database import Store
from lockgate.store.deployments import DeploymentRecords, Rollout, RolloutStatus

REGIONS = ["eu", "us", "ap"]


class Region:
    """What Waves asks of a region's environment, recorded; its rollouts stay in progress
    until `finish`."""

    def __init__(self, records: DeploymentRecords, name: str) -> None:
        self.records, self.name = records, f"shop.{name}"
        self.asked: list[str] = []
        self.refuse: str | None = None
        self.reconciler = SimpleNamespace(releases=SimpleNamespace(app_for=lambda _: None))

    def provenance(self, digest: str) -> Provenance:
        return Provenance(verified=False)

    def check_policies(self, digest: str, action: str, actor: str, found: object) -> None:
        self.asked.append(f"policy {action} {digest}")
        if self.refuse:
            raise DeployRefused(self.refuse)

    def deploy(self, digest: str, by: str, commit: str | None, author: str | None) -> Rollout:
        self.asked.append(f"deploy {digest}")
        return self.records.begin(app="shop", environment=self.name, digest=digest,
                                  previous_digest=None, strategy="rolling", kind="deploy",
                                  triggered_by=by)  # fmt: skip

    def rollback(self, by: str) -> None:
        self.asked.append("rollback")

    def abort(self, why: str) -> None:
        self.asked.append(f"abort: {why}")

    def finish(self, status: RolloutStatus = RolloutStatus.SUCCEEDED) -> None:
        latest = self.records.latest(self.name)
        assert latest is not None
        latest.status, latest.message = status, f"{status.value} here"
        self.records.save(latest)


def _setup(tmp_path: Path, **fields: object) -> tuple[Waves, dict[str, Region]]:
    records = DeploymentRecords(Store(f"sqlite:///{tmp_path / 'store.db'}"))
    regions = [{"name": n, "router": {"port": 9001 + i}} for i, n in enumerate(REGIONS)]
    spec = EnvironmentFile.model_validate({
        "app": "shop", "global-router": {"port": 9000}, "regions": regions,
        "waves": [{"regions": ["eu"]}, {"regions": ["us", "ap"]}], **fields,
    })  # fmt: skip
    found = {name: Region(records, name) for name in REGIONS}
    region = lambda name: found[name]  # noqa: E731
    waves = Waves("shop", spec, records, region, None, tmp_path / "shop")  # type: ignore[arg-type]
    return waves, found


def _status(waves: Waves, release: Rollout) -> RolloutStatus:
    found = waves.records.rollout(release.id)
    assert found is not None
    return found.status


def test_a_release_reaches_its_regions_wave_by_wave(tmp_path: Path) -> None:
    waves, regions = _setup(tmp_path)
    release = waves.begin("v1", "ana")
    waves.advance(1)
    # every region's policies were asked; only the first wave's region was deployed to
    last = [r.asked[-1] for r in regions.values()]
    assert last == ["deploy v1", "policy deploy v1", "policy deploy v1"]
    waves.advance(1)  # eu still rolling out: nothing more
    assert regions["us"].asked == ["policy deploy v1"]
    regions["eu"].finish()
    waves.advance(1)  # wave 1 done (no bake)
    waves.advance(1)
    assert regions["us"].asked[-1] == regions["ap"].asked[-1] == "deploy v1"
    regions["us"].finish()
    regions["ap"].finish()
    waves.advance(1)
    assert _status(waves, release) == RolloutStatus.SUCCEEDED


def test_a_failed_region_stops_the_release_in_its_wave(tmp_path: Path) -> None:
    waves, regions = _setup(tmp_path)
    release = waves.begin("v1", "ana")
    waves.advance(1)
    regions["eu"].finish()
    waves.advance(1)
    waves.advance(1)
    regions["us"].finish()
    regions["ap"].finish(RolloutStatus.ROLLED_BACK)
    waves.advance(1)
    found = waves.records.rollout(release.id)
    assert found is not None and found.status == RolloutStatus.FAILED
    assert found.message == "wave 2/2 (us, ap): region ap: rolled_back here"
    assert regions["us"].asked[-1] == "rollback"  # the wave goes back; ap went back itself
    assert regions["eu"].asked[-1] == "deploy v1"  # an earlier wave's region keeps it


def test_regions_after_a_failed_wave_never_see_the_release(tmp_path: Path) -> None:
    waves, regions = _setup(tmp_path)
    release = waves.begin("v1", "ana")
    waves.advance(1)
    regions["eu"].finish(RolloutStatus.FAILED)
    waves.advance(1)
    assert _status(waves, release) == RolloutStatus.FAILED
    assert "deploy v1" not in regions["us"].asked + regions["ap"].asked


def test_a_newer_release_waits_for_the_one_in_flight(tmp_path: Path) -> None:
    waves, regions = _setup(tmp_path)
    first = waves.begin("v1", "ana")
    waves.advance(1)
    second = waves.begin("v2", "bob")
    assert _status(waves, second) == RolloutStatus.QUEUED
    assert waves.records.rollout(second.id).phase == f"queued behind release #{first.id}"  # type: ignore[union-attr]
    regions["eu"].finish()
    for _ in range(3):
        waves.advance(1)
    for name in ("us", "ap"):
        regions[name].finish()
    waves.advance(1)
    assert _status(waves, first) == RolloutStatus.SUCCEEDED
    waves.advance(1)  # the queued one starts, from the first wave
    assert _status(waves, second) == RolloutStatus.PROGRESSING
    assert regions["eu"].asked[-1] == "deploy v2"


def test_a_newer_release_can_supersede_the_one_in_flight(tmp_path: Path) -> None:
    waves, regions = _setup(tmp_path, release={"on-newer": "supersede"})
    first = waves.begin("v1", "ana")
    waves.advance(1)
    second = waves.begin("v2", "bob")
    assert _status(waves, first) == RolloutStatus.ABORTED
    assert regions["eu"].asked[-1] == f"abort: superseded by release #{second.id}"
    waves.advance(1)
    assert regions["eu"].asked[-1] == "deploy v2"


def test_one_region_refusing_stops_the_release_before_it_starts(tmp_path: Path) -> None:
    waves, regions = _setup(tmp_path)
    regions["ap"].refuse = "EU personal data may not run in region ap"
    with pytest.raises(DeployRefused, match="region ap"):
        waves.begin("v1", "ana")
    assert waves.records.latest("shop") is None
    assert all("deploy v1" not in r.asked for r in regions.values())


def test_a_rollback_releases_the_digest_before_without_baking(tmp_path: Path) -> None:
    waves, regions = _setup(tmp_path, waves=[{"regions": REGIONS, "bake": "1h"}])
    for digest in ("v1", "v2"):
        release = waves.begin(digest, "ana")
        waves.advance(1)
        for region in regions.values():
            region.finish()
        waves.advance(1)  # rolled out: the bake begins
        done = waves.records.rollout(release.id)
        assert done is not None
        done.status = RolloutStatus.SUCCEEDED  # (an hour later)
        waves.records.save(done)
    back = waves.rollback("ana")
    assert (back.kind, back.digest) == ("rollback", "v1")
    assert all(r.asked[-1] == "policy rollback v1" for r in regions.values())
    waves.advance(1)
    for region in regions.values():
        region.finish()
    waves.advance(1)  # no bake for a rollback
    assert _status(waves, back) == RolloutStatus.SUCCEEDED


def test_stopping_ends_the_release_in_flight_and_the_queued_ones(tmp_path: Path) -> None:
    waves, regions = _setup(tmp_path)
    first = waves.begin("v1", "ana")
    waves.advance(1)
    second = waves.begin("v2", "bob")
    waves.stop("stopped with `lockgate down` by ana")
    assert _status(waves, first) == _status(waves, second) == RolloutStatus.ABORTED
    assert regions["eu"].asked[-1] == "abort: stopped with `lockgate down` by ana"
    waves.advance(1)  # nothing left to start
    assert "deploy v2" not in regions["eu"].asked


def test_a_paused_release_still_fails_when_a_region_goes_back(tmp_path: Path) -> None:
    waves, regions = _setup(tmp_path)
    release = waves.begin("v1", "ana")
    waves.advance(1)
    paused = waves.records.rollout(release.id)
    assert paused is not None
    paused.status = RolloutStatus.PAUSED  # (an inconclusive bake, waiting for a person)
    waves.records.save(paused)
    waves.advance(1)
    assert _status(waves, release) == RolloutStatus.PAUSED
    regions["eu"].finish(RolloutStatus.ROLLED_BACK)
    waves.advance(1)
    assert _status(waves, release) == RolloutStatus.FAILED
