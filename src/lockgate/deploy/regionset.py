"""A multi-region environment at work: its regions' environments, its waves and its global
router, for the deploy service and the agent (which takes `reconcile()` passes of it as it
does of a single fleet's reconciler)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts import bundles, signed
from ..common.filelocks import holding
from ..store.deployments import DeploymentRecords, Rollout, RolloutStatus
from . import status
from .envfile import EnvironmentFile
from .environment import Environment
from .globaltraffic import GlobalTraffic, RegionTraffic
from .launch import start_agent
from .reconciler import Reconciler
from .regions import region_environment, region_of
from .status import Health, RolloutSummary, StatusView
from .waves import Waves, describe


@dataclass(frozen=True)
class RegionView:
    region: str
    environment: str  # the region's own environment (lockgate status ENV.REGION)
    labels: dict[str, str]
    health: str
    digest: str | None
    latest: RolloutSummary | None
    serving: int  # instances in rotation
    replicas: int
    traffic: RegionTraffic | None  # its share of the global router's traffic


@dataclass(frozen=True)
class ReleaseView:
    id: int
    digest: str
    status: str
    wave: str | None  # the wave it is in (None once finished)
    waiting_for: str | None  # what it waits for, and until when
    triggered_by: str
    started_at: float
    message: str | None


@dataclass(frozen=True)
class RegionsView(StatusView):
    regions: list[RegionView] = field(default_factory=list)
    releases: list[ReleaseView] = field(default_factory=list)  # in flight, then queued


class RegionSet:
    def __init__(
        self,
        name: str,
        spec: EnvironmentFile,
        state_dir: Path,
        records: DeploymentRecords,
        named: Callable[[str], Reconciler],
    ) -> None:
        self.name, self.spec, self.state_dir, self.records = name, spec, state_dir, records
        self.named = named
        self.traffic = GlobalTraffic(name, spec, state_dir, records) if spec.global_router else None
        self.waves = Waves(
            name, spec, records, self.region, self.traffic, state_dir / "fleet" / name
        )
        self.interval = float(spec.strategy.analysis.interval)
        # Held by the agent's whole pass and by `down`: a pass that began before `down`
        # would otherwise start the global router again after `down` stopped it.
        self.pass_lock = state_dir / "fleet" / name / ".pass"

    def region(self, region: str) -> Environment:
        return Environment(self.named(region_environment(self.name, region)))

    # -- the agent's pass ------------------------------------------------------------------
    def driven(self) -> bool:
        return False  # the agent alone moves waves and traffic

    def supervised(self) -> None:
        """Make sure an agent moves the release (one killed meanwhile is replaced)."""
        start_agent(self.state_dir.parent, self.state_dir, self.records.url)

    def reconcile(self) -> float:
        with holding(self.pass_lock):
            latest = self.records.latest(self.name)
            if latest is not None and latest.status == RolloutStatus.STOPPED:
                return self.interval  # `lockgate down`: no router comes back, no release goes on
            if self.traffic is not None:
                self.traffic.converge()
            return self.waves.advance(self.interval)

    # -- changing it -----------------------------------------------------------------------
    def release(
        self,
        reference: str,
        actor: str,
        config_commit: str | None = None,
        config_author: str | None = None,
    ) -> Rollout:
        digest = bundles.find(signed.store_dir(self.state_dir), reference).name[:64]
        return self.waves.begin(digest, actor, config_commit, config_author)

    def rollback(self, actor: str) -> Rollout:
        return self.waves.rollback(actor)

    def down(self, actor: str) -> int:
        """Stop every region and the global router; no release goes on."""
        with holding(self.pass_lock):
            self.waves.stop(f"stopped with `lockgate down` by {actor}")
            latest = self.records.latest(self.name)
            stop = self.records.begin(
                app=self.spec.app,
                environment=self.name,
                digest=latest.digest if latest else "",
                previous_digest=None,
                strategy="down",
                kind="down",
                triggered_by=actor,
            )
            stop.status, stop.finished_at = RolloutStatus.STOPPED, time.time()
            stop.message = "stopped with `lockgate down`"
            self.records.save(stop)
            if self.traffic is not None:
                self.traffic.stop()
        return sum(self.region(name).down(actor) for name in self.spec.region_names())

    # -- reading ---------------------------------------------------------------------------
    def view(self, regions: dict[str, StatusView]) -> RegionsView:
        """Where the environment stands, from each region's own status."""
        shares = {t.region: t for t in self.traffic.look()} if self.traffic else {}
        region_views = [
            RegionView(
                region=name,
                environment=seen.environment,
                labels=dict(region_of(self.spec, name).labels),
                health=seen.health.value,
                digest=seen.digest,
                latest=seen.latest,
                serving=sum(1 for i in seen.instances if i.in_rotation),
                replicas=region_of(self.spec, name).target.replicas,
                traffic=shares.get(name),
            )
            for name, seen in regions.items()
        ]
        releases = [self._release(r) for r in self.waves.releases()]
        latest = self.records.latest(self.name)
        health, reasons, next_step = self._assess(regions, releases, shares)
        analyses = self.records.analyses(latest.id) if latest else []
        return RegionsView(
            environment=self.name,
            app=self.spec.app,
            router=self.traffic.router.address if self.traffic else "",
            router_up=self.traffic.router.alive() if self.traffic else True,
            agent=any(v.agent for v in regions.values()),
            health=health,
            reasons=reasons,
            next=next_step,
            digest=latest.settled if latest is not None else None,
            latest=RolloutSummary.of(latest),
            analysis=analyses[-1].reason if analyses else None,
            instances=[],
            events=self.records.events(self.name),
            overrides=status.standing_overrides(self.records, self.name),
            regions=region_views,
            releases=releases,
        )

    def _release(self, release: Rollout) -> ReleaseView:
        queued = release.status == RolloutStatus.QUEUED
        wave = None if queued else describe(self.waves.waves, release.step)
        paused = release.status.waiting
        waiting = (release.message if paused else release.phase) or release.status.value
        return ReleaseView(
            release.id,
            release.digest,
            release.status.value,
            wave,
            waiting,
            release.triggered_by,
            release.started_at,
            release.message,
        )

    def _assess(
        self,
        regions: dict[str, StatusView],
        releases: list[ReleaseView],
        shares: dict[str, RegionTraffic],
    ) -> tuple[Health, list[str], str | None]:
        reasons = [
            f"region {name}: {reason}"
            for name, seen in regions.items()
            if seen.health == Health.DEGRADED
            for reason in seen.reasons
        ]
        reasons += [
            f"region {t.region} is drained from the global router: {t.why}"
            for t in shares.values()
            if not t.healthy
        ]
        if reasons:
            return Health.DEGRADED, reasons, f"lockgate status {self.name}.REGION shows a region"
        flying = next((r for r in releases if r.status != RolloutStatus.QUEUED.value), None)
        if flying is not None and flying.status == RolloutStatus.PAUSED.value:
            return Health.PAUSED, [flying.message or "paused"], f"lockgate promote {self.name}"
        if flying is not None:
            return Health.PROGRESSING, [f"release #{flying.id}: {flying.waiting_for}"], None
        return Health.HEALTHY, [], None
