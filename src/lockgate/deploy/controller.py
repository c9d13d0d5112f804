"""The rollout controller: drives a strategy over a target and a router, writing every state
change to the store before acting on it, and refuses to call a rollout done until every
instance reports the desired digest and is ready.

Instance states: starting -> ready -> serving -> (standby) -> stopping -> stopped, or failed.
Only `serving` instances get traffic; `standby` ones (blue after a blue-green switch, or an
instance that did not converge) stay in the router with weight 0.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import io
import os
import socket
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import bundles, provenance, signed
from ..artifacts.manifest import AppManifest, load_manifest
from ..errors import UserError
from ..store.database import pid_alive
from ..store.deployments import DeploymentRecords
from .envfile import EnvironmentFile
from .targets.base import StartFailed, Target
from .targets.local import LocalTarget
from .traffic.base import Route, Router
from .traffic.builtin import BuiltinRouter
from .traffic.haproxy import HAProxyRouter

LIVE = ("starting", "ready", "serving", "standby", "stopping")
PAUSED = ("awaiting_approval", "paused")  # waiting for `lockgate promote` or `abort`


class RolloutFailed(Exception):
    def __init__(self, reason: str, slot: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.slot = slot


class DeployRefused(Exception):
    """The artifact may not be deployed here (provenance); nothing was changed."""


@dataclass
class Report:
    environment: str
    digest: str
    result: str  # succeeded | failed | rolled_back | aborted | awaiting_approval | paused
    message: str
    divergent: list[dict[str, Any]] = field(default_factory=list)  # slot, reason, at
    events: list[tuple[float, str]] = field(default_factory=list)
    deployment: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Controller:
    def __init__(
        self,
        name: str,
        spec: EnvironmentFile,
        state_dir: Path,
        records: DeploymentRecords,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.name = name
        self.spec = spec
        self.state_dir = state_dir
        self.records = records
        self.say = say
        self.dir = state_dir / "fleet" / name
        self.target: Target = LocalTarget(self.dir)
        self.router: Router = (
            HAProxyRouter(self.dir, spec.router.port)
            if spec.router.type == "haproxy"
            else BuiltinRouter(self.dir, spec.router.port)
        )
        self.events: list[tuple[float, str]] = []
        self.apps: dict[str, tuple[Path, AppManifest]] = {}
        self.weights: dict[str, int] = {}  # per-instance weight of serving instances, by pool
        self.divergent: list[dict[str, Any]] = []

    # -- small steps, each recorded before it is taken ----------------------------------------
    def note(self, text: str) -> None:
        self.events.append((time.time(), text))
        self.say(text)

    def rows(self) -> list[dict[str, Any]]:
        return self.records.instances(self.name)

    def sync_router(self) -> None:
        routes = [
            Route(
                r["id"],
                r["address"],
                self.weights.get(r["pool"], 1) if r["state"] == "serving" else 0,
                r["pool"],
            )
            for r in self.rows()
            if r["address"] and r["state"] in ("ready", "serving", "standby")
        ]
        self.router.apply(routes)

    def app_for(self, digest: str) -> tuple[Path, AppManifest]:
        """The stored bundle for `digest` and its lockgate-app.yaml (read once per command)."""
        if digest not in self.apps:
            self.apps[digest] = self._load_app(digest)
        return self.apps[digest]

    def _load_app(self, digest: str) -> tuple[Path, AppManifest]:
        bundle = bundles.find(signed.store_dir(self.state_dir), digest)
        manifests = self.dir / "manifests" / bundle.name.removesuffix(".tar.gz")
        if not (manifests / "lockgate-app.yaml").exists():
            manifests.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(bundle.read_bytes()), mode="r:gz") as tar:
                member = tar.extractfile("lockgate-app.yaml")
                if member is None:
                    raise UserError(f"bundle {digest[:12]} has no lockgate-app.yaml")
                (manifests / "lockgate-app.yaml").write_bytes(member.read())
        return bundle, load_manifest(manifests, f"{digest[:12]}:lockgate-app.yaml")

    def launch(self, deployment: int, slot: int, digest: str, pool: str) -> dict[str, Any]:
        bundle, app = self.app_for(digest)
        instance_id = f"{self.name}-{slot}-{digest[:8]}-{uuid.uuid4().hex[:6]}"
        self.records.add_instance(
            id=instance_id,
            environment=self.name,
            slot=slot,
            digest=digest,
            state="starting",
            pool=pool,
            deployment_id=deployment,
        )
        try:
            started = self.target.start(instance_id, slot, bundle, digest, app)
        except StartFailed as exc:
            self.records.set_instances([instance_id], state="failed", reason=str(exc))
            raise RolloutFailed(f"instance {slot} could not be started: {exc}", slot) from None
        self.records.set_instances(
            [instance_id], pid=started.pid, address=started.address, release_dir=started.release_dir
        )
        return {
            "id": instance_id,
            "slot": slot,
            "digest": digest,
            "pid": started.pid,
            "address": started.address,
            "pool": pool,
        }

    def await_ready(self, started: list[dict[str, Any]], timeout: float) -> None:
        """Every instance ready within `timeout`, or RolloutFailed naming the first that is not."""
        deadline = time.monotonic() + timeout
        waiting = {r["id"]: r for r in started}
        while waiting:
            for instance_id, row in list(waiting.items()):
                _, app = self.app_for(row["digest"])
                seen = self.target.observe(row["pid"], row["address"], app)
                if not seen.alive:
                    self.records.set_instances([instance_id], state="failed", reason="exited")
                    raise RolloutFailed(
                        f"instance {row['slot']} exited before it was ready "
                        f"(log: {self.dir / 'instances' / str(row['slot']) / instance_id}.log)",
                        row["slot"],
                    )
                if seen.ready and seen.digest == row["digest"]:
                    self.records.set_instances([instance_id], state="ready")
                    del waiting[instance_id]
            if waiting and time.monotonic() > deadline:
                slot = next(iter(waiting.values()))["slot"]
                self.records.set_instances(list(waiting), state="failed", reason="not ready")
                raise RolloutFailed(f"instance {slot} was not ready within {timeout:.0f}s", slot)
            if waiting:
                time.sleep(0.05)

    def serve(self, ids: list[str], standby: Sequence[str] = ()) -> None:
        """Put `ids` in rotation and `standby` out of it, in one router change."""
        self.records.set_instances(ids, state="serving")
        self.records.set_instances(list(standby), state="standby")
        self.sync_router()

    def retire(self, rows: list[dict[str, Any]]) -> None:
        """Out of the router first, then stopped: no request is sent to a stopping instance."""
        if not rows:
            return
        self.records.set_instances([r["id"] for r in rows], state="stopping")
        self.sync_router()
        self.stop_processes(rows)
        self.records.set_instances([r["id"] for r in rows], state="stopped")

    def stop_processes(self, rows: list[dict[str, Any]]) -> None:
        """Stop them together: each gets its grace period, not the sum of everyone's."""
        by_digest: dict[str, list[int | None]] = collections.defaultdict(list)
        for row in rows:
            by_digest[row["digest"]].append(row["pid"])
        for digest, pids in by_digest.items():
            self.target.stop(pids, self.app_for(digest)[1])

    def diverged(self, slot: int, reason: str) -> None:
        """An instance that cannot reach the desired digest leaves rotation at once."""
        stale = [r for r in self.rows() if r["slot"] == slot and r["state"] == "serving"]
        self.records.set_instances([r["id"] for r in stale], state="standby", reason=reason)
        self.sync_router()
        weights = {t["id"]: t["weight"] for t in self.router.table()}  # as the router says
        in_rotation = any(weights.get(r["id"], 0) > 0 for r in stale)
        self.divergent.append(
            {"slot": slot, "reason": reason, "at": time.time(), "in_rotation": in_rotation}
        )
        self.note(f"instance {slot} did not converge: {reason}; it gets no traffic")

    # -- what the fleet runs ----------------------------------------------------------------------
    def serving_digest(self) -> str | None:
        digests = [r["digest"] for r in self.rows() if r["state"] == "serving"]
        return collections.Counter(digests).most_common(1)[0][0] if digests else None

    def converged(self, digest: str) -> list[str]:
        """Why the fleet is not wholly on `digest` and ready (empty when it is)."""
        problems = []
        serving = {r["slot"]: r for r in self.rows() if r["state"] == "serving"}
        table = {t["id"]: t for t in self.router.table()}
        for slot in range(self.spec.target.replicas):
            row = serving.get(slot)
            if row is None:
                problems.append(f"instance {slot} is not serving")
                continue
            _, app = self.app_for(row["digest"])
            seen = self.target.observe(row["pid"], row["address"], app)
            if seen.digest != digest:
                problems.append(f"instance {slot} runs {str(seen.digest)[:12]}, not {digest[:12]}")
            elif not seen.ready:
                problems.append(f"instance {slot} is not ready")
            elif table.get(row["id"], {}).get("weight", 0) <= 0:
                problems.append(f"instance {slot} is not in the router's rotation")
        return problems

    # -- entry points ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One command changes an environment at a time; others wait their turn."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.say(f"waiting for another command that is changing {self.name}")
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def check_provenance(self, digest: str) -> str | None:
        """The source commit from the verified provenance; DeployRefused when required and bad."""
        rules = self.spec.provenance
        keys = [Path(k) for k in rules.trusted_keys]
        try:
            verified = signed.verify_stored(digest, self.state_dir, keys)
        except provenance.ProvenanceError as exc:
            if rules.required:
                raise DeployRefused(str(exc)) from None
            return None
        dependencies = verified.statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        return str(dependencies[0]["digest"]["gitCommit"])

    def deploy(self, reference: str, triggered_by: str) -> Report:
        from .strategies import bluegreen, canary, rolling

        self.recover()
        digest = bundles.find(signed.store_dir(self.state_dir), reference).name[:64]
        latest = self.records.latest(self.name)
        if latest and latest["status"] in PAUSED:  # a new digest starts afresh: no dead ends
            self.abort(f"superseded by a deployment of {digest[:12]}")
        commit = self.check_provenance(digest)
        previous = self.serving_digest()
        strategy = self.spec.strategy
        deployment = self.records.begin(
            app=self.spec.app,
            environment=self.name,
            digest=digest,
            previous_digest=previous,
            source_commit=commit,
            strategy=strategy.type,
            triggered_by=triggered_by,
            kind="deploy",
        )
        self.router.ensure()
        self.note(f"deploying {digest[:12]} to {self.name} ({strategy.type})")
        try:
            if strategy.type == "canary" and previous is not None:
                resume_at = canary.run(self, deployment, digest, previous, 0)
                if resume_at is not None:
                    return self.pause(deployment, digest, resume_at)
            elif strategy.type == "blue-green":
                paused = bluegreen.prepare(self, deployment, digest)
                if paused:
                    self.records.update(deployment, status="awaiting_approval", phase="approval")
                    waiting = f"the new set is ready; `lockgate promote {self.name}` switches"
                    return self.report(deployment, digest, "awaiting_approval", waiting)
                bluegreen.switch(self, deployment, digest)
            else:
                rolling.roll(self, deployment, digest)
            problems = self.converged(digest)
            if problems:
                raise RolloutFailed("; ".join(problems))
        except RolloutFailed as failure:
            return self.fail(deployment, digest, previous, failure)
        return self.finish(deployment, digest, "succeeded", f"all instances run {digest[:12]}")

    def fail(
        self, deployment: int, digest: str, previous: str | None, failure: RolloutFailed
    ) -> Report:
        from .strategies import canary, rolling

        if failure.slot is not None:
            self.diverged(failure.slot, failure.reason)
        self.note(f"rollout failed: {failure.reason}")
        if any(r["pool"] in ("canary", "baseline") for r in self.rows()):
            canary.drop(self)
            if not any(r["digest"] == digest for r in self.rows()):
                return self.finish(deployment, digest, "rolled_back", f"{failure.reason}; aborted")
        self.retire([r for r in self.rows() if r["digest"] == digest and r["state"] != "serving"])
        if previous is None:
            self.retire([r for r in self.rows() if r["digest"] == digest])
            return self.finish(deployment, digest, "failed", failure.reason)
        self.note(f"rolling back to {previous[:12]}")
        try:
            rolling.roll(self, deployment, previous)
        except RolloutFailed as again:
            return self.finish(
                deployment, digest, "failed", f"{failure.reason}; the rollback failed too: {again}"
            )
        return self.finish(deployment, digest, "rolled_back", f"{failure.reason}; rolled back")

    def pause(self, deployment: int, digest: str, resume_at: int) -> Report:
        """Wait for a human: `lockgate promote` resumes at step `resume_at`, `abort` drops it."""
        message = (
            f"paused; `lockgate promote {self.name}` goes on, `lockgate abort {self.name}` stops"
        )
        self.records.update(deployment, status="paused", report={"resume_at": resume_at})
        self.note(message)
        return self.report(deployment, digest, "paused", message)

    def finish(self, deployment: int, digest: str, result: str, message: str) -> Report:
        self.note(f"{result}: {message}")
        report = self.report(deployment, digest, result, message)
        self.records.finish(deployment, result, message, report.as_dict())
        return report

    def report(self, deployment: int, digest: str, result: str, message: str) -> Report:
        return Report(
            self.name, digest, result, message, list(self.divergent), list(self.events), deployment
        )

    def promote(self) -> Report:
        """Continue a paused deployment: a blue-green switch, or a canary's next steps."""
        from .strategies import bluegreen, canary

        latest = self.records.latest(self.name)
        if latest is None or latest["status"] not in PAUSED:
            state = latest["status"] if latest else "no deployment"
            raise UserError(
                f"{self.name} has no deployment waiting for approval (latest: {state})",
                hint=f"`lockgate status {self.name}` shows where it stands",
            )
        deployment, digest = int(latest["id"]), str(latest["digest"])
        self.records.update(deployment, status="in_progress", pid=os.getpid())
        self.router.ensure()
        try:
            if latest["status"] == "paused":  # a canary: on from the step it stopped before
                self.weights = self.canary_weights()
                resume_at = canary.run(
                    self,
                    deployment,
                    digest,
                    latest["previous_digest"],
                    latest["report"]["resume_at"],
                )
                if resume_at is not None:
                    return self.pause(deployment, digest, resume_at)
            else:
                bluegreen.switch(self, deployment, digest)
            problems = self.converged(digest)
            if problems:
                raise RolloutFailed("; ".join(problems))
        except RolloutFailed as failure:
            return self.fail(deployment, digest, latest["previous_digest"], failure)
        return self.finish(deployment, digest, "succeeded", f"all instances run {digest[:12]}")

    def abort(self, why: str = "aborted") -> Report:
        """Give up a paused deployment: its new instances go, what served keeps serving."""
        from .strategies import canary

        latest = self.records.latest(self.name)
        if latest is None or latest["status"] not in PAUSED:
            raise UserError(
                f"{self.name} has no paused deployment to abort",
                hint="a running rollout is stopped with Ctrl-C; it then rolls back",
            )
        digest = str(latest["digest"])
        if latest["status"] == "paused":
            self.weights = self.canary_weights()
            canary.drop(self)
        self.retire([r for r in self.rows() if r["digest"] == digest and r["state"] != "serving"])
        return self.finish(int(latest["id"]), digest, "aborted", f"{why}; nothing changed")

    def canary_weights(self) -> dict[str, int]:
        """The weights a paused canary left in the router (this process did not set them)."""
        by_id = {t["id"]: t["weight"] for t in self.router.table()}
        weights: dict[str, int] = {}
        for row in self.rows():
            if row["state"] == "serving" and row["id"] in by_id:
                weights[row["pool"]] = int(by_id[row["id"]])
        return weights

    def down(self) -> int:
        """Stop every instance and the router of this environment; returns how many stopped."""
        rows = [r for r in self.rows() if r["state"] in LIVE]
        self.records.set_instances([r["id"] for r in rows], state="stopping")
        self.stop_processes(rows)
        self.records.set_instances([r["id"] for r in rows], state="stopped")
        self.target.sweep(set())
        self.router.stop()
        return len(rows)

    def rollback(self, triggered_by: str) -> Report:
        """Back to the previous digest: one router change while blue is kept, else a rolling
        rollout of the previous digest. Verified like any rollout."""
        from .strategies import bluegreen, rolling

        self.recover()
        current = self.serving_digest()
        previous = next(
            (
                d["digest"]
                for d in self.records.history(self.name)
                if d["status"] == "succeeded" and d["digest"] != current
            ),
            None,
        )
        if current is None or previous is None:
            raise UserError(f"{self.name} has nothing to roll back to", hint="deploy first")
        deployment = self.records.begin(
            app=self.spec.app,
            environment=self.name,
            digest=previous,
            previous_digest=current,
            strategy="rollback",
            triggered_by=triggered_by,
            kind="rollback",
        )
        self.router.ensure()
        try:
            if not bluegreen.swap_back(self, previous):
                rolling.roll(self, deployment, previous)
            problems = self.converged(previous)
            if problems:
                raise RolloutFailed("; ".join(problems))
        except RolloutFailed as failure:
            return self.finish(deployment, previous, "failed", failure.reason)
        return self.finish(deployment, previous, "succeeded", f"rolled back to {previous[:12]}")

    def recover(self) -> None:
        """Before anything else: finish what a killed lockgate left behind, and stop blue
        instances whose scale-down delay is over."""
        from .strategies import bluegreen, rolling

        latest = self.records.latest(self.name)
        if latest and latest["status"] == "in_progress" and not owner_alive(latest):
            self.note(f"deployment {latest['id']} was interrupted; restoring a consistent state")
            self.router.ensure()
            unfinished = [r for r in self.rows() if r["state"] in ("starting", "ready", "stopping")]
            self.retire(unfinished)
            target = latest["previous_digest"] or latest["digest"]
            try:
                rolling.roll(self, int(latest["id"]), target)
                message = f"interrupted; recovered to {target[:12]}"
                status = "rolled_back" if target != latest["digest"] else "succeeded"
            except RolloutFailed as failure:
                message, status = f"interrupted; recovery failed: {failure}", "failed"
            self.records.finish(int(latest["id"]), status, message, None)
        keep = {r["id"] for r in self.rows()}
        for orphan in self.target.sweep(keep):
            self.note(f"stopped orphan instance {orphan}")
        bluegreen.reap(self)

    def status(self) -> dict[str, Any]:
        rows = self.rows()
        try:
            table = {t["id"]: t for t in self.router.table()}
        except Exception:
            table = {}
        instances = []
        for row in rows:
            _, app = self.app_for(row["digest"])
            seen = self.target.observe(row["pid"], row["address"], app)
            routed = table.get(row["id"], {})
            instances.append(
                {
                    "index": row["slot"],
                    "id": row["id"],
                    "digest": seen.digest,
                    "expected_digest": row["digest"],
                    "state": row["state"],
                    "ready": seen.ready,
                    "alive": seen.alive,
                    "in_rotation": routed.get("weight", 0) > 0,
                    "weight": routed.get("weight", 0),
                    "requests": routed.get("requests", 0),
                    "address": row["address"],
                }
            )
        latest = self.records.latest(self.name)
        analyses = self.records.analyses(int(latest["id"])) if latest else []
        return {
            "environment": self.name,
            "analysis": analyses[-1]["reason"] if analyses else None,
            "app": self.spec.app,
            "router": self.router.address,
            "digest": self.serving_digest(),
            "latest": {k: latest[k] for k in ("id", "digest", "status", "message", "phase")}
            if latest
            else None,
            "instances": instances,
        }


def owner_alive(deployment: dict[str, Any]) -> bool:
    """Whether the lockgate process running a deployment is still alive."""
    return deployment.get("host") == socket.gethostname() and pid_alive(deployment.get("pid"))
