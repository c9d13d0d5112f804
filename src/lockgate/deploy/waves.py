"""Waves: how a release of a multi-region environment goes from region to region.

A release is a rollout row of the parent environment (kind `release`); its `step` is the wave
it is in, `step_started_at` when that wave's bake began (None while the wave rolls out),
`measured_at` its last measurement. Each wave deploys to its regions (each a region
environment with its own reconciler, which the agent drives), waits until they run the
release, then bakes: the analysis compares the wave's regions with the regions outside it,
through the global router (a wave of some of a region's instances: its canary with its
baseline, through the region's router). A failure stops the release in that wave and rolls
the wave's regions back; the regions after it never see the release. An analysis that ends
unproven pauses the release until `lockgate promote`. One release moves at a time; a newer
one waits its turn or supersedes, as the environment file says.

`next_move` is the rule, pure; `Waves` reads the records, applies the move and records it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..common.errors import UserError
from ..common.filelocks import holding
from ..store.deployments import DeploymentRecords, Rollout, RolloutStatus
from ..store.overrides import Gate, OverrideRecords
from .analysis.judge import FAIL, PASS
from .analysis.measure import measure
from .envfile import EnvironmentFile, WaveSpec
from .environment import DeployRefused, Environment
from .globaltraffic import GlobalTraffic
from .policy.facts import Action
from .regions import region_environment
from .status import clock
from .traffic.base import Router

BACK = (
    RolloutStatus.FAILED,
    RolloutStatus.ROLLED_BACK,
    RolloutStatus.ABORTED,
    RolloutStatus.STOPPED,
)


# -- the rule --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deploy:
    regions: list[str]


@dataclass(frozen=True)
class Promote:
    regions: list[str]  # a region's canary (an earlier wave) goes on to all its instances


@dataclass(frozen=True)
class Wait:
    why: str
    seconds: float


@dataclass(frozen=True)
class Bake:
    """The wave's regions run the release: its bake begins."""


@dataclass(frozen=True)
class Measure:
    """A measurement of the bake is due; `final` at its end."""

    final: bool


@dataclass(frozen=True)
class NextWave:
    pass


@dataclass(frozen=True)
class Failed:
    why: str


Move = Deploy | Promote | Wait | Bake | Measure | NextWave | Failed


def tag(release: Rollout) -> str:
    """How a region's rollout names the release that started it (its `triggered_by`)."""
    return f"release #{release.id}"


def canary_regions(waves: list[WaveSpec]) -> set[str]:
    return {w.regions[0] for w in waves if w.instances is not None}


def next_move(
    release: Rollout,
    waves: list[WaveSpec],
    children: Mapping[str, Rollout | None],
    now: float,
    interval: float,
) -> Move:
    """What the release does next, from where it is and what its regions' rollouts show."""
    wave = waves[release.step]
    mine = f"{tag(release)} "
    deploy, promote, moving = [], [], []
    for name in wave.regions:
        child = children.get(name)
        if child is None or not child.triggered_by.startswith(mine):
            running = child is not None and child.status == RolloutStatus.SUCCEEDED
            if not (running and child is not None and child.digest == release.digest):
                deploy.append(name)  # (a region that already runs it has nothing to do)
            continue
        if child.status in BACK:
            return Failed(f"region {name}: {child.message or child.status.value}")
        if child.status == RolloutStatus.PAUSED and wave.instances is None:
            if name in canary_regions(waves):
                promote.append(name)  # its canary, paused by an earlier wave
            else:
                moving.append(f"{name} (paused: lockgate promote {child.environment})")
        elif child.status == RolloutStatus.AWAITING_APPROVAL:
            moving.append(f"{name} (awaiting approval: lockgate promote {child.environment})")
        elif child.status.active:
            moving.append(name)
    if deploy:
        return Deploy(deploy)
    if promote:
        return Promote(promote)
    if moving:
        return Wait(f"rolling out to {', '.join(moving)}", interval)
    bake = wave.bake_seconds() if release.kind == "release" else 0  # a rollback does not bake
    if bake == 0:
        return NextWave()
    began = release.step_started_at
    if began is None:
        return Bake()
    ends = began + bake
    if now >= ends:
        return Measure(final=True)
    due = (release.measured_at or began) + interval
    if now >= due:
        return Measure(final=False)
    return Wait(f"baking until {clock(ends)}", min(due, ends) - now)


def describe(waves: list[WaveSpec], index: int) -> str:
    wave = waves[index]
    part = f"{wave.instances} instance(s) of " if wave.instances is not None else ""
    return f"wave {index + 1}/{len(waves)} ({part}{', '.join(wave.regions)})"


# -- carrying it out -------------------------------------------------------------------------
class Waves:
    def __init__(
        self,
        name: str,
        spec: EnvironmentFile,
        records: DeploymentRecords,
        region: Callable[[str], Environment],
        traffic: GlobalTraffic | None,
        directory: Path,
    ) -> None:
        """`directory`: the parent environment's, where the lock of its releases is."""
        self.name, self.spec, self.records = name, spec, records
        self.region, self.traffic = region, traffic
        self.waves = spec.wave_plan()
        self.lock = directory / ".lock"

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        """One process changes the releases at a time (the agent's pass, a command, the
        GitOps thread): each saves the whole row, so unlocked one would undo the other."""
        return holding(self.lock)

    def releases(self) -> list[Rollout]:
        """Unfinished releases, oldest first."""
        found = [r for r in self.records.history(self.name, 200) if not r.status.finished]
        return sorted(found, key=lambda r: r.id)

    def in_flight(self) -> Rollout | None:
        return next((r for r in self.releases() if r.status != RolloutStatus.QUEUED), None)

    def begin(
        self,
        digest: str,
        actor: str,
        config_commit: str | None = None,
        config_author: str | None = None,
        kind: str = "release",
    ) -> Rollout:
        """Start a release of `digest` (a stored bundle), or queue it behind the one in
        flight. Every region's policies are asked first: a release one region may not run
        never starts."""
        with self._locked():
            return self._begin(digest, actor, config_commit, config_author, kind)

    def _begin(
        self,
        digest: str,
        actor: str,
        config_commit: str | None,
        config_author: str | None,
        kind: str,
    ) -> Rollout:
        found = None
        action: Action = "rollback" if kind == "rollback" else "deploy"
        for name in self.spec.region_names():
            environment = self.region(name)
            found = environment.provenance(digest)
            environment.reconciler.releases.app_for(digest)
            environment.check_policies(digest, action, actor, found)
        before = self.in_flight()
        release = self.records.begin(
            app=self.spec.app,
            environment=self.name,
            digest=digest,
            previous_digest=self._settled(),
            strategy="waves",
            kind=kind,
            triggered_by=actor,
            source_commit=found.source_commit if found else None,
            config_commit=config_commit,
            config_author=config_author,
        )
        release.step_started_at = None
        if before is not None and self.spec.release.on_newer == "wait" and kind == "release":
            release.status = RolloutStatus.QUEUED
            release.phase = f"queued behind release #{before.id}"
        elif before is not None:
            self._undo(before, f"superseded by release #{release.id}")
            self._end(before, RolloutStatus.ABORTED, f"superseded by release #{release.id}")
        self.records.save(release)
        plan = "; ".join(describe(self.waves, i) for i in range(len(self.waves)))
        self.records.add_event(
            self.name, f"release #{release.id} of {digest[:12]} by {actor}: {plan}", release.id
        )
        return release

    def _settled(self) -> str | None:
        done = (r for r in self.records.history(self.name) if r.status == RolloutStatus.SUCCEEDED)
        return next((r.digest for r in done), None)

    def rollback(self, actor: str) -> Rollout:
        """Back to the digest released before the one that serves (or is in flight): a
        release of it that supersedes the one in flight and does not bake."""
        with self._locked():
            flying = self.in_flight()
            current = flying.digest if flying is not None else self._settled()
            done = (
                r for r in self.records.history(self.name) if r.status == RolloutStatus.SUCCEEDED
            )
            previous = next((r.digest for r in done if r.digest != current), None)
            if current is None or previous is None:
                raise UserError(f"{self.name} has nothing to roll back to", hint="release first")
            return self._begin(previous, actor, None, None, "rollback")

    def promote(self) -> Rollout:
        with self._locked():
            release = self.in_flight()
            if release is None or not release.status.waiting:
                raise UserError(
                    f"{self.name} has no release paused for a decision",
                    hint=f"`lockgate waves status {self.name}` shows where its releases are",
                )
            return self.records.promote(release)

    def abort(self, why: str) -> Rollout:
        with self._locked():
            release = self.in_flight()
            if release is None:
                raise UserError(f"{self.name} has no release in flight to abort")
            return self.records.ask_abort(release, why)

    def stop(self, why: str) -> None:
        """End every release in flight or queued (`lockgate down`): the one in flight's wave
        goes back, the queued never start."""
        with self._locked():
            for release in self.releases():
                if release.status != RolloutStatus.QUEUED:
                    self._undo(release, why)
                self._end(release, RolloutStatus.ABORTED, why)

    # -- one pass --------------------------------------------------------------------------
    def advance(self, interval: float) -> float:
        """One pass over the release in flight; seconds until the next is useful."""
        with self._locked():
            return self._pass(interval)

    def _pass(self, interval: float) -> float:
        release = self.in_flight()
        if release is None:
            queued = self.releases()
            if not queued:
                return interval
            release = queued[0]
            release.status, release.phase = RolloutStatus.PROGRESSING, None
            self.records.save(release)
            self.records.add_event(self.name, f"release #{release.id} starts", release.id)
        if release.abort:
            self._undo(release, release.abort)
            self._end(release, RolloutStatus.ABORTED, release.abort)
            return interval
        children = {
            name: self.records.latest(region_environment(self.name, name))
            for name in self.spec.region_names()
        }
        move = next_move(release, self.waves, children, time.time(), interval)
        if release.status.waiting and not isinstance(move, Failed):
            return interval  # paused for a person; a region that fails meanwhile still ends it
        wait = self._apply(release, move, interval)
        self.records.save(release)
        return wait

    def _apply(self, release: Rollout, move: Move, interval: float) -> float:
        label = describe(self.waves, release.step)
        if isinstance(move, Wait):
            release.phase = f"{label}: {move.why}"
            return max(move.seconds, 0.05)
        if isinstance(move, Deploy):
            for name in move.regions:
                try:
                    self.region(name).deploy(
                        release.digest,
                        f"{tag(release)} by {release.triggered_by}",
                        release.config_commit,
                        release.config_author,
                    )
                except (DeployRefused, UserError) as exc:
                    return self._fail(release, f"{label}: region {name} refused it: {exc}")
            self._note(release, f"{label}: deploying to {', '.join(move.regions)}")
        elif isinstance(move, Promote):
            for name in move.regions:
                self.region(name).promote()
            self._note(release, f"{label}: the canary goes on to all of {', '.join(move.regions)}")
        elif isinstance(move, Bake):
            release.step_started_at, release.measured_at = time.time(), None
            ends = release.step_started_at + self.waves[release.step].bake_seconds()
            self._note(release, f"{label}: rolled out; baking until {clock(ends)}")
        elif isinstance(move, Measure):
            return self._judge(release, label, move.final, interval)
        elif isinstance(move, NextWave):
            self._next(release, label)
        elif isinstance(move, Failed):
            return self._fail(release, f"{label}: {move.why}")
        return 0.05

    def _next(self, release: Rollout, label: str) -> None:
        release.step += 1
        release.step_started_at = release.measured_at = None
        release.promote = False
        if release.step == len(self.waves):
            self._end(release, RolloutStatus.SUCCEEDED, f"every wave passed; {label} was the last")
        else:
            self._note(release, f"{label} passed")

    def _judge(self, release: Rollout, label: str, final: bool, interval: float) -> float:
        verdict = self._measure(release, label)
        release.measured_at = time.time()
        if verdict == FAIL:
            return self._fail(release, f"{label} failed its analysis")
        if not final:
            return interval
        if verdict in (PASS, None) or release.promote:
            self._next(release, label)
        else:
            release.status = RolloutStatus.PAUSED
            release.message = (
                f"{label}: analysis inconclusive; `lockgate promote {self.name}` goes on"
            )
            self._note(release, release.message)
        return 0.05

    def _measure(self, release: Rollout, label: str) -> str | None:
        """A measurement of the wave; None when there is nothing to compare it with."""
        wave = self.waves[release.step]
        router: Router
        if wave.instances is not None:  # the region's canary against its baseline
            if release.previous_digest is None:
                return None  # a first release: no baseline runs anywhere
            router, sides = self.region(wave.regions[0]).reconciler.router, ("canary", "baseline")
        else:
            if self.traffic is None:
                return None
            given = {t.region: t.weight for t in self.traffic.look()}
            others = [r for r in given if r not in wave.regions and given[r] > 0]
            if not others:
                return None
            router, sides = self.traffic.router, ("|".join(wave.regions), "|".join(others))
        number = len([a for a in self.records.analyses(release.id) if a.step == label]) + 1
        since = release.step_started_at or time.time()
        spec = self.spec.strategy.analysis
        judged = measure(router, self.records, release.id, spec, label, number, since, sides)
        self._note(release, f"analysis {label} #{number}: {judged.verdict} ({judged.reason})")
        if judged.verdict != PASS:
            override = OverrideRecords(self.records.store).covering(
                self.name, Gate.ANALYSIS, time.time()
            )
            if override is not None:
                self._note(
                    release, f"{override.describe(time.time())} let the {judged.verdict} through"
                )
                return PASS
        return judged.verdict

    def _fail(self, release: Rollout, why: str) -> float:
        self._undo(release, why)
        self._end(release, RolloutStatus.FAILED, why)
        return 0.05

    def _undo(self, release: Rollout, why: str) -> None:
        """The wave's regions go back to what they ran; the regions after it never saw it."""
        mine = f"{tag(release)} "
        for name in self.waves[release.step].regions if release.step < len(self.waves) else []:
            child = self.records.latest(region_environment(self.name, name))
            if child is None or not child.triggered_by.startswith(mine):
                continue
            environment = self.region(name)
            try:
                if not child.status.finished:
                    environment.abort(why)
                elif child.status == RolloutStatus.SUCCEEDED:
                    environment.rollback(f"{tag(release)} (rolled back)")
            except UserError as exc:
                self._note(release, f"region {name} could not go back: {exc}")
                continue
            self._note(release, f"region {name} goes back to what it ran")

    def _end(self, release: Rollout, status: RolloutStatus, why: str) -> None:
        release.status, release.message, release.phase = status, why, None
        release.finished_at = time.time()
        self.records.save(release)
        self._note(release, f"{status.value}: {why}")

    def _note(self, release: Rollout, text: str) -> None:
        self.records.add_event(self.name, text, release.id)
