"""The deploy service: one repository's environments, for the CLI, the server and the agent.

It resolves an environment (by its file, or by the name of one deployed before), changes its
desired state (deploy, rollback, promote, abort, down), reads its status and history, and has
an agent carry the changes out. Callers parse their input and show the result; none of them
builds a reconciler or starts an agent itself."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..artifacts import bundles, signed
from ..common.errors import UserError
from ..common.names import checked_name
from ..common.statedir import state_dir, state_path
from ..store.deployments import DeploymentRecords, InstanceState, Rollout
from ..store.overrides import Override, OverrideRecords
from . import status
from .breakglass import Ask, BreakGlass, Drill, gates_named, unless_bypassed
from .envfile import EnvironmentFile, load_environment
from .environment import Environment
from .launch import environment_files, start_agent
from .policy import gate
from .policy.facts import Action
from .reconciler import PROBE_PERIOD, Reconciler
from .releases import Releases
from .strategies.base import SIDE_POOLS


class UnknownEnvironment(UserError):
    """No environment of that name has been deployed from this repository."""


class DeployService:
    def __init__(self, repo: Path, records: DeploymentRecords, files: bool = True) -> None:
        """`files`: whether an environment may be named by its file (the CLI's user may;
        the server's callers name deployed environments only, never a path)."""
        self.repo = repo.resolve()
        self.records, self.files = records, files

    @property
    def state(self) -> Path:
        """The repository's state directory (not made until something is written)."""
        return state_path(self.repo)

    def names(self) -> list[str]:
        return sorted(environment_files(self.state))

    # -- resolving -------------------------------------------------------------------------
    def named(
        self, name: str, say: Callable[[str], None] = lambda _: None, period: float = PROBE_PERIOD
    ) -> Reconciler:
        """A deployed environment's reconciler, from the file kept when it was deployed."""
        checked_name(name, "environment", "ENV")
        kept = environment_files(self.state).get(name)
        if kept is None:
            raise UnknownEnvironment(
                f"no environment {name!r} has been deployed from {self.repo}",
                where="ENV",
                hint="give the environment file (e.g. deploy/staging.yaml)",
            )
        _, spec = load_environment(kept, name)
        return Reconciler(name, spec, self.state, self.records, say, period)

    def resolve(self, env: str) -> Reconciler:
        """The environment an environment file names (kept in the state directory, where
        `status NAME`, `rollback NAME` and the agent read it), else a deployed one's name."""
        path = Path(env)
        if not self.files or not path.is_file():
            return self.named(env)
        name, spec = load_environment(path, None)
        reconciler = Reconciler(name, spec, state_dir(self.repo), self.records)
        kept = reconciler.dir / "environment.yaml"
        if path.resolve() != kept.resolve():
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, kept)
        return reconciler

    def adopt(self, name: str, document: dict[str, Any]) -> Reconciler:
        """Make `document` the kept environment file of `name` (GitOps writes what git says;
        replaced whole by rename, so the agent never reads half of it)."""
        checked_name(name, "environment", "environment")
        spec = EnvironmentFile.model_validate(document)
        reconciler = Reconciler(name, spec, state_dir(self.repo), self.records)
        kept = reconciler.dir / "environment.yaml"
        kept.parent.mkdir(parents=True, exist_ok=True)
        text = (  # JSON is YAML: no dumper needed, and nothing in it is read as a tag
            "# written by lockgate gitops: change the config repository, not this file\n"
            + json.dumps(document, indent=2)
            + "\n"
        )
        temp = kept.with_name(f".environment.yaml.{os.getpid()}")
        temp.write_text(text)
        temp.replace(kept)
        return reconciler

    def kept_document(self, name: str) -> dict[str, Any] | None:
        """The kept environment file of `name` as data; None when there is none or it does not
        read (either way it is not what git says)."""
        kept = environment_files(self.state).get(name)
        if kept is None:
            return None
        try:
            _, spec = load_environment(kept, name)
        except UserError:
            return None
        return spec.model_dump(by_alias=True, exclude_unset=True)

    def forget(self, name: str) -> None:
        """No longer keep `name` (after `down`): its file goes, so no agent supervises it."""
        kept = environment_files(self.state).get(name)
        if kept is not None:
            kept.unlink(missing_ok=True)

    # -- changing the desired state (an agent carries it out) --------------------------------
    def deploy(self, env: str, reference: str, actor: str) -> tuple[Reconciler, Rollout]:
        """Roll out a bundle: a digest (or a unique prefix of one) built here, or an app
        directory, built and signed first."""
        reconciler = self.resolve(env)
        if self.files and Path(reference).is_dir():
            reference = signed.build_signed(Path(reference), reconciler.state_dir).digest
        rollout = Environment(reconciler).deploy(reference, actor)
        return reconciler, self._carried(reconciler, rollout)

    def deploy_adopted(
        self, reconciler: Reconciler, digest: str, actor: str, commit: str, author: str
    ) -> Rollout:
        """GitOps: roll out the digest a config commit names, recording the commit. The
        agent carries it on (GitOps runs in the agent, or starts it once after a pass)."""
        return Environment(reconciler).deploy(digest, actor, commit, author)

    def rollback(self, env: str, actor: str) -> tuple[Reconciler, Rollout]:
        reconciler = self.resolve(env)
        return reconciler, self._carried(reconciler, Environment(reconciler).rollback(actor))

    def promote(self, env: str) -> tuple[Reconciler, Rollout]:
        reconciler = self.resolve(env)
        return reconciler, self._carried(reconciler, Environment(reconciler).promote())

    def abort(self, env: str, why: str = "aborted") -> tuple[Reconciler, Rollout]:
        reconciler = self.resolve(env)
        return reconciler, self._carried(reconciler, Environment(reconciler).abort(why))

    def down(self, env: str, actor: str) -> tuple[str, int]:
        """Stop an environment's instances and router: (its name, how many were stopped)."""
        reconciler = self.resolve(env)
        return reconciler.name, Environment(reconciler).down(actor)

    def _carried(self, reconciler: Reconciler, rollout: Rollout) -> Rollout:
        start_agent(self.repo, reconciler.state_dir, self.records.url)
        return rollout

    # -- reading ---------------------------------------------------------------------------
    def status(self, name: str) -> status.StatusView:
        """Where a deployed environment stands; reads only."""
        return status.view(self.named(name))

    def release_changes(self, name: str) -> dict[int, list[str]]:
        """Slot -> what was changed on disk in the release its serving instance runs (only
        slots with a change). Reads every file of those releases: a GitOps pass asks, once
        an interval, not every reconcile pass."""
        reconciler = self.named(name)
        serving = [
            i
            for i in self.records.instances(name)
            if i.state == InstanceState.SERVING and i.pool not in SIDE_POOLS
        ]
        found = reconciler.target.release_changes(serving)
        return {i.slot: changes for i, changes in zip(serving, found, strict=True) if changes}

    def condemn(self, name: str, slots: set[int]) -> None:
        """Releases changed on disk: the agent replaces those slots' instances from the
        bundle (they are seen as drift)."""
        reconciler = self.named(name)
        for instance in self.records.instances(name):
            if instance.slot in slots and instance.state == InstanceState.SERVING:
                reconciler.target.condemn(instance)

    def refusal(
        self,
        name: str,
        spec: EnvironmentFile,
        digest: str,
        actor: str,
        action: Action = "plan",
    ) -> str | None:
        """Why the policies would refuse deploying `digest` as `name` with `spec` (None: they
        would allow it); nothing is written. UserError when the bundle is not stored here
        (there is nothing to judge)."""
        with tempfile.TemporaryDirectory() as scratch:
            app = Releases(self.state, Path(scratch)).app(digest)
        try:
            gate.check(self.state, name, spec, app, digest, action, actor)
        except gate.PolicyRefusal as exc:
            return unless_bypassed(self.records, name, str(exc), record=action != "plan")
        return None

    # -- break-glass ---------------------------------------------------------------------------
    def override(
        self, env: str, bypass: list[str], reason: str, ttl: str, actor: str, drill: bool = False
    ) -> Drill:
        """Bypass gates of a deployed environment for a while (or rehearse it: `drill`)."""
        reconciler, glass = self.named(env), self._glass()
        ask = Ask(reconciler.name, gates_named(bypass), reason, ttl, actor)
        if drill:
            return glass.drill(ask, reconciler.spec, self._probe(reconciler, actor))
        return Drill(glass.request(ask, reconciler.spec))

    def approve_override(self, override_id: int, actor: str) -> Drill:
        glass = self._glass()
        pending = glass.overrides.get(override_id)
        probe = self._probe(self.named(pending.environment), actor) if pending else None
        return glass.approve(override_id, actor, probe)

    def revoke_override(self, override_id: int, actor: str) -> Override:
        return self._glass().revoke(override_id, actor)

    def overrides(self, env: str) -> list[Override]:
        return self._glass().overrides.of(self.named(env).name)

    def _glass(self) -> BreakGlass:
        return BreakGlass(OverrideRecords(self.records.store), self.records)

    def _probe(self, reconciler: Reconciler, actor: str) -> Callable[[], object] | None:
        """What a drill times as a gate's decision: the policies asked about what serves (or
        was last deployed); None when nothing ever was."""
        latest = self.records.latest(reconciler.name)
        digest = Environment(reconciler).serving_digest() or (latest.digest if latest else None)
        if not digest:
            return None
        return lambda: self.refusal(reconciler.name, reconciler.spec, digest, actor)

    def history(self, name: str, limit: int = 20) -> list[Rollout]:
        self.named(name)  # an unknown name is refused, not answered with nothing
        return self.records.history(name, limit)

    def bundles(self, limit: int = 20) -> list[tuple[str, float]]:
        """The bundles built here, newest first (digest, when stored): what can be deployed."""
        return bundles.stored(signed.store_dir(self.state), limit)
