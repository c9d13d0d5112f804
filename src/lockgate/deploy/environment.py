"""What the deploy commands change: an environment's desired state.

`deploy`, `rollback`, `promote` and `abort` only write the rollout row (under the environment's
lock, briefly); the reconciler acts on it. `down` is the exception: it stops the fleet itself.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

from ..artifacts import bundles, signed
from ..common.errors import UserError
from ..store.deployments import DeploymentRecords, InstanceState, Rollout, RolloutStatus
from . import migrations
from .breakglass import unless_bypassed
from .policy import gate
from .policy.facts import Action, Provenance
from .policy.rego import Decision
from .reconciler import Reconciler
from .strategies.base import SIDE_POOLS
from .targets.base import Look


class DeployRefused(Exception):
    """The artifact may not be deployed here (provenance); nothing was changed."""


class Environment:
    def __init__(self, reconciler: Reconciler) -> None:
        self.reconciler = reconciler
        self.name, self.spec = reconciler.name, reconciler.spec
        self.state_dir: Path = reconciler.state_dir
        self.records: DeploymentRecords = reconciler.records

    def serving_digest(self) -> str | None:
        """What most of the main set serves now."""
        digests = [
            i.digest
            for i in self.records.instances(self.name)
            if i.state == InstanceState.SERVING and i.pool not in SIDE_POOLS
        ]
        return collections.Counter(digests).most_common(1)[0][0] if digests else None

    def provenance(self, digest: str) -> Provenance:
        """What the bundle's provenance shows; DeployRefused when it is required and bad."""
        found = gate.provenance_of(self.state_dir, self.spec, digest)
        if self.spec.provenance.required and not found.verified:
            raise DeployRefused(str(found.problem))
        return found

    def check_policies(
        self, digest: str, action: Action, actor: str, found: Provenance | None = None
    ) -> Decision:
        """The policies' decision on this change; DeployRefused, recorded, when they deny it
        or cannot decide. Their warnings are recorded and do not block."""
        app = self.reconciler.releases.app(digest)
        try:
            decision = gate.check(
                self.state_dir, self.name, self.spec, app, digest, action, actor, found
            )
        except gate.PolicyRefusal as exc:
            if unless_bypassed(self.records, self.name, str(exc)) is None:
                return exc.decision or Decision()
            self.records.add_event(self.name, str(exc), None)
            raise DeployRefused(str(exc)) from None
        for warning in decision.warnings:
            self.records.add_event(
                self.name, f"policy warning on {action} of {digest[:12]}: {warning.message} "
                f"({warning.package})", None,
            )  # fmt: skip
        return decision

    def _supersede(self, why: str) -> None:
        """A new desired state replaces an unfinished one: no dead ends. The reconciler
        removes what the old one started and did not finish."""
        latest = self.records.latest(self.name)
        if latest is not None and not latest.status.finished:
            latest.status, latest.message, latest.phase = RolloutStatus.ABORTED, why, None
            latest.finished_at = time.time()
            self.records.save(latest)
            self.records.add_event(self.name, f"aborted: {why}", latest.id)

    def deploy(
        self,
        reference: str,
        triggered_by: str,
        config_commit: str | None = None,
        config_author: str | None = None,
    ) -> Rollout:
        """`config_commit` and its author: the GitOps commit that asked for it."""
        digest = bundles.find(signed.store_dir(self.state_dir), reference).name[:64]
        found = self.provenance(digest)
        bundle, app = self.reconciler.releases.app_for(digest)  # no manifest fails here
        self.check_policies(digest, "deploy", triggered_by, found)
        serving = self.serving_digest()
        if app.migrations is not None:  # the old version must live with the new schema
            old = self.reconciler.releases.bundle(serving) if serving else None
            unsafe = migrations.check(bundle, old, app.migrations)
            if unsafe:
                raise migrations.refusal(unsafe)
        self.reconciler.router.ensure()  # a port in use fails here, before anything changes
        prepared = self.reconciler.target.prepare(bundle, digest)
        with self.reconciler.locked():
            if app.migrations is not None:  # once, before the first new instance
                said = migrations.run(bundle, app.migrations, digest)
                prepared = [*prepared, "migrations applied" + (f": {said}" if said else "")]
            self._supersede(f"superseded by a deployment of {digest[:12]}")
            rollout = self.records.begin(
                app=self.spec.app,
                environment=self.name,
                digest=digest,
                previous_digest=self.serving_digest(),
                strategy=self.spec.strategy.type,
                kind="deploy",
                triggered_by=triggered_by,
                source_commit=found.source_commit,
                config_commit=config_commit,
                config_author=config_author,
            )
            self.records.add_event(
                self.name, f"deploying {digest[:12]} ({self.spec.strategy.type})", rollout.id
            )
            for done in prepared:
                self.records.add_event(self.name, done, rollout.id)
        return rollout

    def rollback(self, triggered_by: str) -> Rollout:
        """Back to the last digest that succeeded before the one serving: one router change
        while the old set is on standby, else a rolling rollout of it."""
        with self.reconciler.locked():
            current = self.serving_digest()
            previous = next(
                (
                    r.digest
                    for r in self.records.history(self.name)
                    if r.status == RolloutStatus.SUCCEEDED and r.digest != current
                ),
                None,
            )
            if current is None or previous is None:
                raise UserError(f"{self.name} has nothing to roll back to", hint="deploy first")
            self.check_policies(previous, "rollback", triggered_by)
            self._supersede(f"superseded by a rollback to {previous[:12]}")
            rollout = self.records.begin(
                app=self.spec.app,
                environment=self.name,
                digest=previous,
                previous_digest=current,
                strategy="rollback",
                kind="rollback",
                triggered_by=triggered_by,
            )
            self.records.add_event(self.name, f"rolling back to {previous[:12]}", rollout.id)
        return rollout

    def promote(self) -> Rollout:
        """Go on with a paused rollout: a blue-green switch, or a canary's next steps."""
        with self.reconciler.locked():
            latest = self.records.latest(self.name)
            if latest is None or not latest.status.waiting:
                state = latest.status.value if latest else "no deployment"
                raise UserError(
                    f"{self.name} has no deployment waiting for approval (latest: {state})",
                    hint=f"`lockgate status {self.name}` shows where it stands",
                )
            return self.records.promote(latest)

    def abort(self, why: str = "aborted") -> Rollout:
        """Stop a paused or running rollout: its new instances go, what served keeps serving."""
        with self.reconciler.locked():
            latest = self.records.latest(self.name)
            if latest is None or latest.status.finished:
                raise UserError(
                    f"{self.name} has no paused or running deployment to abort",
                    hint=f"`lockgate rollback {self.name}` goes back to the previous digest",
                )
            return self.records.ask_abort(latest, why)

    def down(self, triggered_by: str) -> int:
        """Stop every instance and the router; returns how many were asked to stop. The
        history is kept and an unfinished rollout aborted. The stops are recorded, then asked
        for; their grace periods pass without the lock, and a last pass finishes them."""
        reconciler, target = self.reconciler, self.reconciler.target
        with reconciler.locked():
            self._supersede("the environment was stopped")
            stopped = self.records.begin(
                app=self.spec.app,
                environment=self.name,
                digest=self.serving_digest() or "",
                previous_digest=None,
                strategy="down",
                kind="down",
                triggered_by=triggered_by,
            )  # the desired state is now: nothing runs (the agent restores no instance)
            stopped.status, stopped.finished_at = RolloutStatus.STOPPED, time.time()
            stopped.message = "stopped with `lockgate down`"
            self.records.save(stopped)
            instances = self.records.instances(self.name)
            for instance in instances:
                instance.state = InstanceState.STOPPING
                instance.stop_at = instance.stop_at or time.time()
                instance.signaled_at = time.time()  # the router goes too: nothing to drain
            self.records.save_instances(instances)
            reconciler.router.stop()
            for instance in instances:
                target.signal_stop(instance, reconciler.releases.app(instance.digest))
            self.records.add_event(self.name, f"stopping {len(instances)} instances", None)
        looks = [Look(i, reconciler.releases.app(i.digest), probe=False) for i in instances]
        grace = max((float(k.app.grace_seconds) for k in looks), default=0.0)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(seen.alive for seen in target.observe(looks)):
            time.sleep(0.05)
        reconciler.reconcile()  # the exited are stopped, the others killed
        with reconciler.locked():
            target.sweep(set())  # and anything of this fleet whose record was lost
        return len(instances)
