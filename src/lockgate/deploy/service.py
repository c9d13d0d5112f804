"""The deploy service: one repository's environments, for the CLI, the server and the agent.

It resolves an environment (by its file, or by the name of one deployed before), changes its
desired state (deploy, rollback, promote, abort, down), reads its status and history, and has
an agent carry the changes out. Callers parse their input and show the result; none of them
builds a reconciler or starts an agent itself."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..artifacts import bundles, signed
from ..common.errors import UserError
from ..common.files import replace_whole
from ..common.names import checked_name
from ..common.statedir import state_dir, state_path
from ..store.deployments import DeploymentRecords, InstanceState, Rollout
from ..store.overrides import Override, OverrideRecords
from . import status
from .breakglass import Ask, BreakGlass, Drill, gates_named, unless_bypassed
from .envfile import EnvironmentFile, load_environment
from .environment import Environment
from .globaltraffic import parse_weights
from .launch import environment_files, start_agent
from .policy import gate
from .policy.facts import Action
from .reconciler import PROBE_PERIOD, Reconciler
from .regions import region_documents, region_environment
from .regionset import RegionSet
from .releases import Releases
from .strategies.base import SIDE_POOLS

Changed = Reconciler | RegionSet  # what a change acted on: a fleet, or a set of regions
T = TypeVar("T")


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
    def _spec(self, name: str) -> EnvironmentFile:
        checked_name(name, "environment", "ENV")
        kept = environment_files(self.state).get(name)
        if kept is None:
            raise UnknownEnvironment(
                f"no environment {name!r} has been deployed from {self.repo}",
                where="ENV",
                hint="give the environment file (e.g. deploy/staging.yaml)",
            )
        return load_environment(kept, name)[1]

    def named(
        self, name: str, say: Callable[[str], None] = lambda _: None, period: float = PROBE_PERIOD
    ) -> Reconciler:
        """A deployed environment's reconciler, from the file kept when it was deployed."""
        spec = self._spec(name)
        if spec.regions:
            raise UserError(
                f"{name} spans regions ({', '.join(spec.region_names())}): this acts on one "
                "region's fleet",
                where="ENV",
                hint=f"name a region's: {region_environment(name, spec.region_names()[0])}",
            )
        return Reconciler(name, spec, self.state, self.records, say, period)

    def supervised(
        self, name: str, say: Callable[[str], None] = lambda _: None, period: float = PROBE_PERIOD
    ) -> Reconciler | RegionSet:
        """What the agent takes passes of: a fleet's reconciler, or a multi-region
        environment's waves and global router."""
        return self._supervising(name, self._spec(name), say, period)

    def _supervising(
        self,
        name: str,
        spec: EnvironmentFile,
        say: Callable[[str], None] = lambda _: None,
        period: float = PROBE_PERIOD,
    ) -> Reconciler | RegionSet:
        if spec.regions:
            return RegionSet(name, spec, self.state, self.records, self.named)
        return Reconciler(name, spec, self.state, self.records, say, period)

    def resolve(self, env: str) -> Reconciler | RegionSet:
        """The environment an environment file names (kept in the state directory, where
        `status NAME`, `rollback NAME` and the agent read it), else a deployed one's name."""
        path = Path(env)
        if not self.files or not path.is_file():
            return self.supervised(env)
        name, spec = load_environment(path, None)
        state_dir(self.repo)
        self._keep(name, spec, path.read_text(), path)
        return self._supervising(name, spec)

    def adopt(self, name: str, document: dict[str, Any]) -> Reconciler | RegionSet:
        """Make `document` the kept environment file of `name` (GitOps writes what git says;
        replaced whole by rename, so the agent never reads half of it)."""
        checked_name(name, "environment", "environment")
        spec = EnvironmentFile.model_validate(document)
        state_dir(self.repo)
        text = (  # JSON is YAML: no dumper needed, and nothing in it is read as a tag
            "# written by lockgate gitops: change the config repository, not this file\n"
            + json.dumps(document, indent=2)
            + "\n"
        )
        self._keep(name, spec, text)
        return self._supervising(name, spec)

    def _keep(
        self, name: str, spec: EnvironmentFile, text: str, source: Path | None = None
    ) -> None:
        """Keep an environment file (and, for one that spans regions, each region's), each
        replaced whole by rename so the agent never reads half of one."""
        kept = self.state / "fleet" / name / "environment.yaml"
        if source is not None and source.resolve() == kept.resolve():
            return
        if spec.part_of is not None:
            raise UserError(
                f"{name} is a region of {spec.part_of}: it is changed through {spec.part_of}",
                where=str(source or name),
            )
        for region, document in (region_documents(name, spec) if spec.regions else {}).items():
            existing = self._kept_spec(region)
            if existing is not None and existing.part_of != name:
                raise UserError(
                    f"region environment {region} would replace an environment of that name "
                    f"that is not a region of {name}",
                    hint="rename the region or the environment",
                )
            kept_region = self.state / "fleet" / region / "environment.yaml"
            replace_whole(kept_region, json.dumps(document, indent=2) + "\n")
        replace_whole(kept, text)

    def _kept_spec(self, name: str) -> EnvironmentFile | None:
        kept = environment_files(self.state).get(name)
        if kept is None:
            return None
        try:
            return load_environment(kept, name)[1]
        except UserError:
            return None

    def kept_document(self, name: str) -> dict[str, Any] | None:
        """The kept environment file of `name` as data; None when there is none or it does not
        read (either way it is not what git says)."""
        spec = self._kept_spec(name)
        return spec.model_dump(by_alias=True, exclude_unset=True) if spec else None

    def forget(self, name: str) -> None:
        """No longer keep `name` (after `down`): its file goes, and its regions' files, so
        no agent supervises them."""
        spec = self._kept_spec(name)
        for region in spec.region_names() if spec and spec.regions else []:
            self.forget(region_environment(name, region))
        kept = environment_files(self.state).get(name)
        if kept is not None:
            kept.unlink(missing_ok=True)

    # -- changing the desired state (an agent carries it out) --------------------------------
    def deploy(self, env: str, reference: str, actor: str) -> tuple[Changed, Rollout]:
        """Roll out a bundle: a digest (or a unique prefix of one) built here, or an app
        directory, built and signed first. An environment that spans regions gets a release
        that goes through its waves."""
        found = self.resolve(env)
        if self.files and Path(reference).is_dir():
            reference = signed.build_signed(Path(reference), self.state).digest
        if isinstance(found, RegionSet):
            return found, self._carried(found.release(reference, actor))
        if found.spec.part_of is not None:
            raise UserError(
                f"{found.name} is a region of {found.spec.part_of}: a release goes through "
                "its waves",
                where="ENV",
                hint=f"lockgate deploy {found.spec.part_of} --artifact {reference}",
            )
        return found, self._carried(Environment(found).deploy(reference, actor))

    def deploy_adopted(
        self, name: str, digest: str, actor: str, commit: str, author: str
    ) -> Rollout:
        """GitOps: roll out the digest a config commit names, recording the commit. The
        agent carries it on (GitOps runs in the agent, or starts it once after a pass)."""
        found = self.supervised(name)
        if isinstance(found, RegionSet):
            return found.release(digest, actor, commit, author)
        return Environment(found).deploy(digest, actor, commit, author)

    def rollback(self, env: str, actor: str) -> tuple[Changed, Rollout]:
        found = self.resolve(env)
        if isinstance(found, RegionSet):
            return found, self._carried(found.rollback(actor))
        return found, self._carried(Environment(found).rollback(actor))

    def promote(self, env: str) -> tuple[Changed, Rollout]:
        found = self.resolve(env)
        if isinstance(found, RegionSet):
            return found, self._carried(found.waves.promote())
        return found, self._carried(Environment(found).promote())

    def abort(self, env: str, why: str = "aborted") -> tuple[Changed, Rollout]:
        found = self.resolve(env)
        if isinstance(found, RegionSet):
            return found, self._carried(found.waves.abort(why))
        return found, self._carried(Environment(found).abort(why))

    def down(self, env: str, actor: str) -> tuple[str, int]:
        """Stop an environment's instances and router: (its name, how many were stopped)."""
        found = self.resolve(env)
        if isinstance(found, RegionSet):
            return found.name, found.down(actor)
        return found.name, Environment(found).down(actor)

    def traffic(self, env: str, weights: list[str], actor: str) -> RegionSet:
        """Share the global router's traffic between regions (`eu-west=100 us-east=0`):
        kept for the agent, which holds the global router to it."""
        found = self.resolve(env)
        if not isinstance(found, RegionSet) or found.traffic is None:
            raise UserError(f"{env} has no global router: traffic weights are for an "
                            "environment with several regions", where="ENV")  # fmt: skip
        found.traffic.ask(parse_weights(found.spec, weights), actor)
        self._carried(None)
        return found

    def _carried(self, rollout: T) -> T:
        start_agent(self.repo, self.state, self.records.url)
        return rollout

    # -- reading ---------------------------------------------------------------------------
    def status(self, name: str) -> status.StatusView:
        """Where a deployed environment stands; reads only."""
        found = self.supervised(name)
        if isinstance(found, RegionSet):
            regions = {
                region: self.status(region_environment(name, region))
                for region in found.spec.region_names()
            }
            return found.view(regions)
        return status.view(found)

    def release_changes(self, name: str) -> dict[int, list[str]]:
        """Slot -> what was changed on disk in the release its serving instance runs (only
        slots with a change). Reads every file of those releases: a GitOps pass asks, once
        an interval, not every reconcile pass. (A multi-region environment's own instances
        are its regions'.)"""
        reconciler = self.supervised(name)
        if isinstance(reconciler, RegionSet):
            return {}
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
        reconciler = self.supervised(name)
        if isinstance(reconciler, RegionSet):
            return
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
        spec, glass = self._spec(env), self._glass()
        ask = Ask(env, gates_named(bypass), reason, ttl, actor)
        if drill:
            return glass.drill(ask, spec, self._probe(env, actor))
        return Drill(glass.request(ask, spec))

    def approve_override(self, override_id: int, actor: str) -> Drill:
        glass = self._glass()
        pending = glass.overrides.get(override_id)
        probe = self._probe(pending.environment, actor) if pending else None
        return glass.approve(override_id, actor, probe)

    def revoke_override(self, override_id: int, actor: str) -> Override:
        return self._glass().revoke(override_id, actor)

    def overrides(self, env: str) -> list[Override]:
        self._spec(env)  # an unknown name is refused, not answered with nothing
        return self._glass().overrides.of(env)

    def _glass(self) -> BreakGlass:
        return BreakGlass(OverrideRecords(self.records.store), self.records)

    def _probe(self, name: str, actor: str) -> Callable[[], object] | None:
        """What a drill times as a gate's decision: the policies asked about what serves (or
        was last deployed); None when nothing ever was."""
        found, latest = self.supervised(name), self.records.latest(name)
        serving = Environment(found).serving_digest() if isinstance(found, Reconciler) else None
        digest = serving or (latest.digest if latest else None)
        if not digest:
            return None
        return lambda: self.refusal(name, found.spec, digest, actor)

    def history(self, name: str, limit: int = 20) -> list[Rollout]:
        self._spec(name)  # an unknown name is refused, not answered with nothing
        return self.records.history(name, limit)

    def bundles(self, limit: int = 20) -> list[tuple[str, float]]:
        """The bundles built here, newest first (digest, when stored): what can be deployed."""
        return bundles.stored(signed.store_dir(self.state), limit)
