"""One reconcile pass's view of an environment's fleet, and the moves made on it.

LiveFleet is the strategies.base.Fleet the strategies see, and the supervisor's hands: it
observes every instance once per pass, records each move before taking it, and leaves the
router change and the stop signals to the end of the pass, so a pass is one router change and
no instance is signalled while the router still sends it requests.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..common.httpcheck import status_of
from ..store.deployments import (
    LIVE,
    DeploymentRecords,
    Instance,
    InstanceState,
    Rollout,
)
from ..store.overrides import Gate, OverrideRecords
from .analysis.judge import PASS
from .analysis.measure import measure
from .envfile import EnvironmentFile
from .policy.facts import Action
from .releases import Releases
from .strategies.base import SIDE_POOLS
from .strategies.canary import instance_weights
from .targets.base import HostLost, Look, Observed, StartFailed, Target
from .traffic.base import Route, Router

ROTATION = (InstanceState.SERVING, InstanceState.READY, InstanceState.STANDBY)
FAILURE_THRESHOLD = 2  # failed readiness probes in a row that take a ready instance out
DRAIN_SECONDS = 1.0  # out of the router this long before the stop signal: answers in flight end


@dataclass
class Probes:
    """When each instance's readiness was last probed by this process (kept across passes)."""

    period: float
    at: dict[str, float] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)  # failed probes in a row, if ready

    def due(self, instance: Instance, now: float) -> bool:
        return now - self.at.get(instance.id, 0.0) >= self.period


class LiveFleet:
    def __init__(
        self,
        name: str,
        spec: EnvironmentFile,
        records: DeploymentRecords,
        target: Target,
        router: Router,
        releases: Releases,
        rollout: Rollout | None,
        probes: Probes,
        say: Callable[[str], None],
        vet: Callable[[str, Action], str | None] = lambda digest, action: None,
    ) -> None:
        """`vet(digest, action)`: why the policies refuse starting `digest` here (a repair),
        or None."""
        self.name = name
        self.vet = vet
        self.replicas = spec.target.replicas
        self.strategy = spec.strategy
        self.records, self.target, self.router = records, target, router
        self.releases, self.rollout, self.probes, self.say = releases, rollout, probes, say
        self.now = time.time()
        self.all = records.instances(name)
        self.seen: dict[str, Observed] = {}
        self.fenced: set[int] = set()  # slots on hosts that did not answer in this pass
        self.dirty: dict[str, Instance] = {}
        self.readiness_changed: list[Instance] = []  # serving ones, for the supervisor

    # -- looking ---------------------------------------------------------------------------
    def waiting(self) -> bool:
        """Whether an instance waits to be ready (started, restarted, out of rotation) or to
        be stopped."""
        stopping = any(i.state == InstanceState.STOPPING for i in self.all)
        return stopping or any(
            self._watched(i) and not i.ready and not self.cut_off(i) for i in self.instances()
        )

    def instances(self) -> list[Instance]:
        return [i for i in self.all if i.state in LIVE and i.state != InstanceState.STOPPING]

    def dead(self, instance: Instance) -> bool:
        seen = self.seen.get(instance.id)
        return seen is not None and seen.reachable and not seen.alive

    def cut_off(self, instance: Instance) -> bool:
        """Its host did not answer in this pass: nothing is known of it."""
        seen = self.seen.get(instance.id)
        return seen is not None and not seen.reachable

    def drifted(self, instance: Instance) -> bool:
        """Running a release other than its record's (changed on disk, or by hand)."""
        seen = self.seen.get(instance.id)
        return seen is not None and seen.digest is not None and seen.digest != instance.digest

    def log_of(self, instance: Instance) -> str:
        return self.target.log_of(instance)

    def _watched(self, instance: Instance) -> bool:
        """Probed every pass: instances a rollout in progress is waiting on or judging, and
        serving ones waiting to be back in rotation."""
        rollout = self.rollout
        if instance.state in (InstanceState.STARTING, InstanceState.READY):
            return True
        if instance.state == InstanceState.SERVING and not instance.ready:
            return True  # out of rotation until it answers: back as soon as it does
        if instance.id in self.probes.failed:
            return True  # a failed probe is confirmed (or not) at once
        if rollout is None or rollout.status.finished:
            return False
        bake = float(self.strategy.min_ready_seconds)
        ours = instance.deployment_id == rollout.id and not instance.available(self.now, bake)
        return ours or instance.pool in SIDE_POOLS

    def observe(self) -> None:
        """Each instance's process, digest and (when due) readiness, as the target sees them
        (all in one call: side by side, a round trip per host)."""
        orphans = False
        looked: list[tuple[Instance, bool]] = []
        for instance in self.all:
            if instance.state not in LIVE:
                continue
            if instance.ref is None:  # its starter died between recording and starting it
                orphans = True
                self.set(instance, state=InstanceState.FAILED, reason="its start was interrupted")
                continue
            looked.append(
                (instance, self._watched(instance) or self.probes.due(instance, self.now))
            )

        looks = [Look(i, self.releases.app(i.digest), probe) for i, probe in looked]
        for (instance, probe), seen in zip(looked, self.target.observe(looks), strict=True):
            self.seen[instance.id] = seen
            if not seen.reachable:  # out of rotation until its host answers again
                if instance.ready:
                    self.set(instance, ready=False, ready_since=None)
                continue
            if probe:
                self.probes.at[instance.id] = self.now
            ready = seen.alive and (seen.ready if probe else instance.ready)
            if probe and seen.alive and not seen.ready and instance.ready:
                # One failed probe may be a blip (a slow answer under load); the second, a
                # pass later (it is watched now), takes it out of rotation.
                self.probes.failed[instance.id] = self.probes.failed.get(instance.id, 0) + 1
                ready = self.probes.failed[instance.id] < FAILURE_THRESHOLD
            elif probe:
                self.probes.failed.pop(instance.id, None)
            if ready != instance.ready:
                self.set(instance, ready=ready, ready_since=self.now if ready else None)
                if instance.state == InstanceState.SERVING:
                    self.readiness_changed.append(instance)
        if orphans:
            self.target.sweep({i.id for i in self.all if i.state in LIVE and i.ref})
        down = {host.name for host in self.target.hosts() if not host.reachable}
        self.fenced = {s for s in range(self.replicas) if self.target.placement(s) in down}

    def healthy_now(self, instance: Instance) -> bool:
        seen = self.target.observe([Look(instance, self.releases.app(instance.digest))])[0]
        return seen.alive and seen.ready and seen.digest == instance.digest

    # -- moves -----------------------------------------------------------------------------
    def set(self, instance: Instance, **changes: object) -> None:
        for key, value in changes.items():
            setattr(instance, key, value)
        self.dirty[instance.id] = instance

    def commit(self) -> None:
        self.records.save_instances(list(self.dirty.values()))
        self.dirty.clear()

    def launch(self, slot: int, digest: str, pool: str) -> Instance:
        instance = Instance(
            id=f"{self.name}-{slot}-{digest[:8]}-{uuid.uuid4().hex[:6]}",
            environment=self.name,
            slot=slot,
            digest=digest,
            pool=pool,
            state=InstanceState.STARTING,
            deployment_id=self.rollout.id if self.rollout else None,
            launched_at=self.now,
        )
        self.records.add_instance(instance)  # recorded before it exists: a kill leaves a trace
        self.all.append(instance)
        self.start(instance)
        return instance

    def start(self, instance: Instance) -> None:
        """Start (or start again) the process of a recorded instance."""
        bundle, app = self.releases.app_for(instance.digest)
        try:
            placed = self.target.start(instance, bundle, app)
        except StartFailed as exc:
            self.set(instance, state=InstanceState.FAILED, reason=str(exc))
            self.commit()
            if isinstance(exc, HostLost):  # fenced: the next pass goes on without its host
                self.fenced.add(instance.slot)
                self.note(f"instance {instance.slot} not started, its host is fenced: {exc}")
                return
            raise
        self.set(
            instance,
            ref=placed.ref,
            address=placed.address,
            ready=False,
            ready_since=None,
            launched_at=self.now,
            retry_at=None,
        )  # saved with the pass: a process whose reference was lost is found by its marker
        self.seen[instance.id] = Observed(True, instance.digest, False)

    def start_again(self, instance: Instance) -> None:
        restarts = instance.restarts + 1
        self.target.kill(instance)  # whatever its group left behind
        self.start(instance)
        self.set(instance, restarts=restarts)

    def park(self, instances: Sequence[Instance]) -> None:
        for instance in instances:
            self.set(instance, state=InstanceState.READY)

    def serve(self, instances: Sequence[Instance], retire: Sequence[Instance] = ()) -> None:
        for instance in instances:
            self.set(instance, state=InstanceState.SERVING, reason=None)
        self.retire(retire)

    def standby(self, instances: Sequence[Instance], reason: str | None = None) -> None:
        for instance in instances:
            self.set(instance, state=InstanceState.STANDBY, reason=reason)

    def retire(self, instances: Sequence[Instance]) -> None:
        for instance in instances:
            if instance.state in (InstanceState.STOPPING, InstanceState.STOPPED):
                continue
            if instance.ref is None or self.dead(instance) or self.cut_off(instance):
                self.set(instance, state=InstanceState.STOPPED)  # a host's own are swept
            else:
                self.set(instance, state=InstanceState.STOPPING, stop_at=None, signaled_at=None)

    def note(self, text: str) -> None:
        self.records.add_event(self.name, text, self.rollout.id if self.rollout else None)
        self.say(text)

    # -- canary analysis and smoke checks --------------------------------------------------
    def measure(self, rollout: Rollout, label: str, number: int) -> str:
        since = rollout.weight_at or rollout.step_started_at or self.now
        spec = self.strategy.analysis
        judged = measure(self.router, self.records, rollout.id, spec, label, number, since)
        self.note(f"analysis {label} #{number}: {judged.verdict} ({judged.reason})")
        if judged.verdict != PASS:
            override = OverrideRecords(self.records.store).covering(
                self.name, Gate.ANALYSIS, self.now
            )
            if override is not None:
                self.note(f"{override.describe(self.now)} let the {judged.verdict} through")
                return PASS
        return judged.verdict

    def verdicts(self, rollout: Rollout, label: str) -> list[str]:
        return [a.verdict for a in self.records.analyses(rollout.id) if a.step == label]

    def smoke(self, instances: Sequence[Instance]) -> str | None:
        strategy = self.strategy
        for instance in instances:
            assert instance.address is not None
            for probe in strategy.smoke:
                answer = status_of(instance.address, probe.path, timeout=5)
                if answer != probe.expect:
                    return (
                        f"smoke check GET {probe.path} on instance {instance.slot} gave "
                        f"{answer or 'no answer'}, expected {probe.expect}"
                    )
        if strategy.smoke_command:
            addresses = [str(i.address) for i in instances]
            done = subprocess.run(
                ["bash", "-c", strategy.smoke_command],
                env={
                    **os.environ,
                    "GREEN_ADDRESSES": " ".join(addresses),
                    "GREEN_URL": f"http://{addresses[0]}",
                },
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0:
                output = (done.stdout + done.stderr)[-300:]
                return f"smoke command failed ({done.returncode}): {output}"
        return None

    # -- the end of a pass: stops finish, the router follows ----------------------------------
    def finish_stops(self) -> None:
        """Stopping instances that exited are stopped; those past their grace are killed."""
        for instance in self.all:
            if instance.state != InstanceState.STOPPING:
                continue
            grace = float(self.releases.app(instance.digest).grace_seconds)
            if self.dead(instance) or self.cut_off(instance):
                self.set(instance, state=InstanceState.STOPPED)
            elif instance.signaled_at is not None and self.now >= instance.signaled_at + grace:
                self.target.kill(instance)
                self.set(instance, state=InstanceState.STOPPED)

    def signal_stops(self) -> None:
        """After the router change: instances it no longer sends requests to are asked to
        stop once the requests they were answering had time to finish (each step recorded
        before it is taken)."""
        stopping = [i for i in self.all if i.state == InstanceState.STOPPING]
        for instance in stopping:
            if instance.stop_at is None:
                self.set(instance, stop_at=self.now)
        asked = [
            i
            for i in stopping
            if i.signaled_at is None and self.now >= (i.stop_at or self.now) + DRAIN_SECONDS
        ]
        for instance in asked:
            self.set(instance, signaled_at=self.now)
        self.commit()
        for instance in asked:
            self.target.signal_stop(instance, self.releases.app(instance.digest))

    def routes(self) -> list[Route]:
        """The routing table the instances' states ask for: serving instances that answer
        their probe and run their digest get traffic; ready and standby ones are kept at 0."""
        routed = [i for i in self.all if i.state in ROTATION and i.address]
        serving = [i for i in routed if i.state == InstanceState.SERVING]
        counts: dict[str, int] = {}
        for instance in serving:
            pool = instance.pool if instance.pool in SIDE_POOLS else "stable"
            counts[pool] = counts.get(pool, 0) + 1
        weights: dict[str, int] = {}
        if self.rollout is not None and any(pool in SIDE_POOLS for pool in counts):
            weights = instance_weights(self.rollout.weight, counts)
        routes = []
        for instance in routed:
            assert instance.address is not None
            healthy = instance.ready and not self.dead(instance) and not self.drifted(instance)
            pool = instance.pool if instance.pool in SIDE_POOLS else "stable"
            weight = weights.get(pool, 1) if instance.state == InstanceState.SERVING else 0
            routes.append(
                Route(instance.id, instance.address, weight if healthy else 0, instance.pool)
            )
        return routes
