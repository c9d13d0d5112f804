"""The reconcile loop's one pass for one environment (Argo Rollouts' model).

A pass reads the desired state (the latest rollout row) and the observed state (instances as
the target finds them, the routing table as the router reports it), takes the next idempotent
actions and returns. It holds the environment's lock only while it acts; nothing sleeps under
it. Any process may take the next pass: `lockgate deploy` while it waits for its rollout, the
agent every probe period, the next command after either was killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from ..common.errors import UserError
from ..common.filelocks import held, holding
from ..common.httpcheck import Unreachable
from ..store.deployments import (
    LIVE,
    DeploymentRecords,
    Divergence,
    InstanceState,
    Rollout,
    RolloutStatus,
)
from .breakglass import unless_bypassed
from .envfile import EnvironmentFile
from .fleet import LiveFleet, Probes
from .hostbook import HostBook
from .policy import gate
from .policy.facts import Action, Provenance
from .releases import Releases
from .strategies import strategy_for
from .strategies.base import SIDE_POOLS, Done, Fail, Pause, Progress, Wait
from .strategies.rolling import converge
from .supervision import backoff, reap_standby, supervise
from .targets import target_for
from .traffic import router_for
from .traffic.base import Route

PROBE_PERIOD = 1.0
WATCH_PERIOD = 0.2  # between passes while an instance waits to be ready
# At most, between the passes of a command waiting for its rollout: each pass looks at every
# instance (a round trip per SSH host); at 25 ms a rollout cost 10-15% more CPU, for
# about 5% less wall time (measured on 5 local and 24 SSH instances)
PASS_PERIOD = 0.1
# At rest, the fleet promises every slot runs the settled digest: an instance found serving
# another (on a host that was away) leaves rotation and is replaced.
CONSISTENT = (RolloutStatus.SUCCEEDED, RolloutStatus.ROLLED_BACK, RolloutStatus.ABORTED)


class Reconciler:
    def __init__(
        self,
        name: str,
        spec: EnvironmentFile,
        state_dir: Path,
        records: DeploymentRecords,
        say: Callable[[str], None] = lambda _: None,
        probe_period: float = PROBE_PERIOD,
    ) -> None:
        self.name, self.spec, self.records, self.say = name, spec, records, say
        self.state_dir = state_dir
        self.dir = state_dir / "fleet" / name
        self.target = target_for(spec.target, self.dir, name)
        self.router = router_for(spec.router.type, self.dir, spec.router.port)
        self.releases = Releases(state_dir, self.dir)
        self.hosts = HostBook(self.dir / "hosts.json")
        self.probes = Probes(probe_period)
        self.restoring: float | None = None  # when restoring missing instances began
        self.restores, self.restore_at = 0, 0.0  # failed restorations in a row; next try
        self.routed: list[Route] = []  # the table this process last saw the router hold
        self.router_checked = 0.0
        self.provenances: dict[str, Provenance] = {}  # what repairs were vetted with

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """One process acts on an environment at a time; a pass is short, so others wait."""
        return holding(self.dir / ".lock")

    def driving(self) -> contextlib.AbstractContextManager[None]:
        """A command waiting for its rollout takes the passes itself; the agent stays out of
        its way meanwhile (and takes over the moment the command ends, however it ends)."""
        return holding(self.dir / ".drive")

    def driven(self) -> bool:
        """Whether a command is driving this environment's passes now."""
        return held(self.dir / ".drive")

    def reconcile(self) -> float:
        """One pass; returns how many seconds until the next one is useful."""
        with self.locked():
            return self._pass()

    def _pass(self) -> float:
        rollout = self.records.latest(self.name)
        before = dataclasses.replace(rollout) if rollout is not None else None
        fleet = LiveFleet(
            self.name,
            self.spec,
            self.records,
            self.target,
            self.router,
            self.releases,
            rollout,
            self.probes,
            self.say,
            self._vet,
        )
        fleet.observe()
        self._watch_hosts(fleet, rollout)
        fleet.finish_stops()
        self._collect(fleet, rollout)
        wait = self.probes.period
        if rollout is not None and rollout.status.waiting:
            self._watch_paused(rollout, fleet)
        if rollout is not None and rollout.status.active:
            wait = min(wait, self._advance(rollout, fleet))
        elif rollout is not None and rollout.status.finished:
            wait = min(wait, self._restore(rollout, fleet))
        wait = min(wait, supervise(fleet, rollout))
        reap_standby(fleet, rollout)
        if fleet.waiting():
            wait = min(wait, WATCH_PERIOD)
        fleet.commit()
        if rollout is not None and rollout != before:
            self.records.save(rollout)
        self._route(fleet)
        fleet.signal_stops()
        return max(wait, 0.02)

    # -- hosts -------------------------------------------------------------------------------
    def _watch_hosts(self, fleet: LiveFleet, rollout: Rollout | None) -> None:
        """A host that stops answering: its instances are out of rotation (observe did that)
        and a rollout in progress fails, rolling the others back, unless `on-host-failure:
        fence` lets it go on without the host. A host that answers again is swept of the
        instances no record wants any more; what it still runs is judged like any instance."""
        for host in self.hosts.update(self.target.hosts(), fleet.now):
            if host.reachable:
                fleet.note(f"host {host.name} answers again: converging it before it serves")
                kept = self.target.sweep({i.id for i in fleet.all if i.state in LIVE and i.ref})
                if kept:
                    fleet.note(f"stopped {len(kept)} instances no record wants: {', '.join(kept)}")
            else:
                seen = time.strftime("%H:%M:%S", time.localtime(host.last_seen or host.since))
                fleet.note(f"host {host.name} is unreachable (last seen {seen}): out of rotation")
        moving = (RolloutStatus.PROGRESSING, RolloutStatus.PAUSED, RolloutStatus.AWAITING_APPROVAL)
        if not fleet.fenced or rollout is None or rollout.status not in moving or rollout.abort:
            return
        lost = ", ".join(h.name for h in self.hosts.down())
        if self.spec.target.on_host_failure == "rollback":
            self._fail(rollout, fleet, Fail(f"host {lost} became unreachable"))
        elif rollout.phase is None or "fenced" not in rollout.phase:
            rollout.phase = f"host {lost} fenced: going on without it (on-host-failure: fence)"
            fleet.note(rollout.phase)

    # -- desired state ---------------------------------------------------------------------
    def _collect(self, fleet: LiveFleet, rollout: Rollout | None) -> None:
        """Leftovers of superseded rollouts: their canaries and their unfinished new sets."""
        current = rollout.id if rollout is not None else None
        leftovers = [
            i
            for i in fleet.instances()
            if i.deployment_id != current
            and (i.pool in SIDE_POOLS or i.state in (InstanceState.STARTING, InstanceState.READY))
        ]
        fleet.retire(leftovers)

    def _restore(self, rollout: Rollout, fleet: LiveFleet) -> float:
        """At rest, a slot with no instance (one that could not be started again, a scale-up)
        gets one on the settled digest, as a rollout would start it; failures back off."""
        goal = rollout.settled
        main = [i for i in fleet.instances() if i.pool not in SIDE_POOLS]
        stale = [
            i
            for i in main
            if i.state == InstanceState.SERVING and i.digest != goal and i.slot not in fleet.fenced
        ]
        if goal is not None and stale and rollout.status in CONSISTENT:
            fleet.retire(stale)
            which = ", ".join(str(i.slot) for i in stale)
            fleet.note(f"instance {which} runs {stale[0].digest[:12]}, not {goal[:12]}: replacing")
            main = [i for i in fleet.instances() if i.pool not in SIDE_POOLS]
        held = {i.slot for i in main if i.state in (InstanceState.STARTING, InstanceState.SERVING)}
        missing = [
            slot
            for slot in range(self.spec.target.replicas)
            if slot not in held and slot not in fleet.fenced
        ]
        if goal is None or not (missing or any(i.state == InstanceState.STARTING for i in main)):
            self.restoring, self.restores = None, 0
            return self.probes.period
        if fleet.now < self.restore_at:
            return self.restore_at - fleet.now
        if self.restoring is None:
            self.restoring = fleet.now
            which = ", ".join(map(str, missing))
            fleet.note(f"instance {which} missing: starting it again on {goal[:12]}")
        refusal = self._vet(goal, "repair")
        try:
            progress = (
                Fail(refusal) if refusal else converge(fleet, rollout, goal, since=self.restoring)
            )
        except UserError as exc:  # its bundle is gone, say
            progress = Fail(str(exc))
        if isinstance(progress, Fail):
            fleet.retire([i for i in main if i.state == InstanceState.STARTING])
            self.restores += 1
            delay = backoff(self.restores)
            self.restoring, self.restore_at = None, fleet.now + delay
            fleet.note(f"could not restore the fleet: {progress.reason}; again in {delay:g}s")
        elif isinstance(progress, Done):
            self.restoring, self.restores = None, 0
            fleet.note(f"fleet restored: {progress.message}")
        return WATCH_PERIOD

    def _vet(self, digest: str, action: Action) -> str | None:
        """Why the policies refuse starting `digest` here, or None. A repair is a change too:
        a host relabelled out of a jurisdiction gets no new instance of a release the
        policies keep in it. Provenance is verified once per digest (it hashes the bundle).
        A bundle that is gone is not the policies' to say: starting it fails and says so."""
        try:
            if digest not in self.provenances:
                self.provenances[digest] = gate.provenance_of(self.state_dir, self.spec, digest)
            app = self.releases.app(digest)
        except UserError:
            return None
        try:
            gate.check(self.state_dir, self.name, self.spec, app, digest, action, "agent",
                       self.provenances[digest])  # fmt: skip
        except gate.PolicyRefusal as exc:
            return unless_bypassed(self.records, self.name, str(exc))
        return None

    def _watch_paused(self, rollout: Rollout, fleet: LiveFleet) -> None:
        """A paused rollout's own instances (a canary and its baseline, a blue-green preview)
        are still judged: one that dies or loses readiness ends the pause with a rollback."""
        lost = [
            i
            for i in fleet.instances()
            if (i.deployment_id == rollout.id or i.pool in SIDE_POOLS)
            and i.state in (InstanceState.READY, InstanceState.SERVING)
            and (fleet.dead(i) or not i.ready)
        ]
        if lost:
            why = f"{lost[0].pool} instance {lost[0].slot} lost readiness while paused"
            self._fail(rollout, fleet, Fail(why))

    def _advance(self, rollout: Rollout, fleet: LiveFleet) -> float:
        if rollout.abort and rollout.status != RolloutStatus.ROLLING_BACK:
            self._fail(rollout, fleet, Fail(rollout.abort))
        if rollout.status == RolloutStatus.ROLLING_BACK:
            assert rollout.previous_digest is not None
            progress: Progress = converge(fleet, rollout, rollout.previous_digest)
        else:
            progress = strategy_for(rollout.strategy).step(rollout, fleet)
        return self._follow(rollout, fleet, progress)

    def _follow(self, rollout: Rollout, fleet: LiveFleet, progress: Progress) -> float:
        rolling_back = rollout.status == RolloutStatus.ROLLING_BACK
        if isinstance(progress, Wait):
            if rollout.phase != progress.phase:
                rollout.phase = progress.phase
                if not rolling_back:
                    fleet.note(progress.phase)
            return progress.seconds
        if isinstance(progress, Pause):
            rollout.status = (
                RolloutStatus.AWAITING_APPROVAL if progress.approval else RolloutStatus.PAUSED
            )
            rollout.phase = rollout.message = progress.reason
            fleet.note(progress.reason)
            return self.probes.period
        if rolling_back:
            if isinstance(progress, Done):
                status = RolloutStatus.ABORTED if rollout.abort else RolloutStatus.ROLLED_BACK
                self._finish(rollout, fleet, status, f"{rollout.failure}; rolled back")
            else:
                why = f"{rollout.failure}; the rollback failed too: {progress.reason}"
                self._finish(rollout, fleet, RolloutStatus.FAILED, why)
            return self.probes.period
        if isinstance(progress, Done):
            self._finish(rollout, fleet, RolloutStatus.SUCCEEDED, progress.message)
            return self.probes.period
        self._fail(rollout, fleet, progress)
        return 0.02

    def _fail(self, rollout: Rollout, fleet: LiveFleet, failure: Fail) -> None:
        """The rollout's new instances go, a diverged one leaves rotation, and the fleet
        converges back to the previous digest (or, with none, the new one is removed)."""
        if failure.slot is not None:
            self._diverged(rollout, fleet, failure)
        if not rollout.abort:
            fleet.note(f"rollout failed: {failure.reason}")
        strategy_for(rollout.strategy).abandon(rollout, fleet)
        fleet.retire(
            [
                i
                for i in fleet.instances()
                if i.deployment_id == rollout.id
                and i.state in (InstanceState.STARTING, InstanceState.READY)
            ]
        )
        rollout.failure = failure.reason
        if rollout.previous_digest is None:
            fleet.retire([i for i in fleet.instances() if i.digest == rollout.digest])
            status = RolloutStatus.ABORTED if rollout.abort else RolloutStatus.FAILED
            self._finish(rollout, fleet, status, failure.reason)
            return
        rollout.status, rollout.step_started_at = RolloutStatus.ROLLING_BACK, fleet.now
        rollout.phase = f"rolling back to {rollout.previous_digest[:12]}"
        fleet.note(rollout.phase)

    def _diverged(self, rollout: Rollout, fleet: LiveFleet, failure: Fail) -> None:
        """An instance that cannot reach the desired digest leaves rotation at once; the
        record says whether the router, asked afterwards, still sends it traffic."""
        stale = [
            i
            for i in fleet.instances()
            if i.slot == failure.slot
            and i.state == InstanceState.SERVING
            and i.digest != rollout.digest
            and i.pool not in SIDE_POOLS
        ]
        fleet.standby(stale, failure.reason)
        fleet.commit()
        self._route(fleet)
        held = self.router.table()  # read back: what the router itself now does
        in_rotation = any(r.weight > 0 for r in held if r.id in {i.id for i in stale})
        rollout.divergent.append(
            Divergence(failure.slot or 0, failure.reason, time.time(), in_rotation)
        )
        fleet.note(
            f"instance {failure.slot} did not converge: {failure.reason}; it gets no traffic"
        )

    def _finish(
        self, rollout: Rollout, fleet: LiveFleet, status: RolloutStatus, message: str
    ) -> None:
        rollout.status, rollout.message, rollout.phase = status, message, None
        rollout.finished_at = fleet.now
        fleet.note(f"{status.value}: {message}")

    # -- the router --------------------------------------------------------------------------
    def _route(self, fleet: LiveFleet) -> list[Route]:
        """Bring the router's table to what the instances ask for; a router that is down is
        started again (it gets its last table back) whenever it has instances to route to.
        Its table is read when this process's last change differs, and once a probe period."""
        wanted = sorted(fleet.routes(), key=lambda r: r.id)
        if not wanted and not fleet.instances():  # nothing to route to: leave it be
            return wanted
        checked = fleet.now - self.router_checked < self.probes.period
        if checked and wanted == self.routed:
            return wanted
        try:
            current = [Route(r.id, r.address, r.weight, r.pool) for r in self.router.table()]
            self.router_checked = fleet.now
        except (Unreachable, OSError, ValueError):
            fleet.note("the router was not running: started it with its table")
            self.router.ensure()
            current = []
        if sorted(current, key=lambda r: r.id) != wanted:
            self.router.apply(wanted)
        self.routed = wanted
        return wanted


def wait_for(
    reconciler: Reconciler,
    rollout_id: int,
    on_event: Callable[[str], None] = lambda _: None,
) -> Rollout:
    """Take passes until the rollout is no longer in progress, showing its events as they
    come; the environment's lock is free between passes."""
    records, shown = reconciler.records, 0
    with reconciler.driving():
        while True:
            wait = reconciler.reconcile()
            rollout = records.rollout(rollout_id)
            assert rollout is not None
            events = records.events(reconciler.name, deployment_id=rollout_id)
            for event in events[shown:]:
                on_event(event.text)
            shown = len(events)
            if not rollout.status.active:
                return rollout
            time.sleep(min(wait, PASS_PERIOD))
