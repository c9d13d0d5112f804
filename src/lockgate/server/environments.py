"""The environments the server shows and drives: those deployed from one repository directory
(`lockgate serve --deployments DIR`, the checkout `lockgate deploy` ran in), through the same
deploy service as the CLI. An action writes the desired state and leaves the carrying out to
that directory's agent; the request never waits for a rollout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..common.errors import UserError
from ..deploy import status
from ..deploy.breakglass import Drill
from ..deploy.gitops.plan import ConfigPlan, plan
from ..deploy.gitops.source import ConfigRepository
from ..deploy.gitops.sync import GitopsSync, SyncReport, SyncRequest, request_sync
from ..deploy.gitops.watch import configured
from ..deploy.launch import start_agent
from ..deploy.service import DeployService, UnknownEnvironment
from ..store import Store
from ..store.deployments import Analysis, DeploymentRecords, Rollout
from ..store.gitops import EnvironmentSync, GitopsRecords
from ..store.overrides import Override

ACTIONS: dict[str, Callable[[DeployService, str, str], Rollout]] = {
    "promote": lambda service, name, _actor: service.promote(name)[1],
    "abort": lambda service, name, actor: service.abort(name, f"aborted by {actor}")[1],
    "rollback": lambda service, name, actor: service.rollback(name, actor)[1],
}

__all__ = [
    "ACTIONS",
    "Environments",
    "NoGitops",
    "StoredBundle",
    "Summary",
    "UnknownEnvironment",
]


class NoGitops(UserError):
    """The --deployments directory follows no config repository (or there is none)."""


@dataclass(frozen=True)
class StoredBundle:
    digest: str
    stored_at: float


@dataclass(frozen=True)
class Summary:
    """One line of the environments list; `error` when its state cannot be read now."""

    name: str
    app: str | None
    health: str | None
    digest: str | None
    reasons: list[str]
    error: str | None = None


class Environments:
    def __init__(self, repo: Path | None, store: Store) -> None:
        self.repo = repo
        self.records = DeploymentRecords(store)
        self.service = DeployService(repo, self.records, files=False) if repo else None

    def _service(self, name: str) -> DeployService:
        if self.service is None:
            raise UnknownEnvironment(f"no environment {name!r}: the server has no --deployments")
        return self.service

    def overview(self) -> list[Summary]:
        found = []
        for name in self.service.names() if self.service is not None else []:
            try:
                view = self.status(name)
            except (UserError, OSError) as exc:  # a broken file: said, not a failed page
                found.append(Summary(name, None, None, None, [], str(exc)))
                continue
            found.append(Summary(name, view.app, view.health.value, view.digest, view.reasons))
        return found

    def status(self, name: str) -> status.StatusView:
        return self._service(name).status(name)

    def history(self, name: str, limit: int = 20) -> list[Rollout]:
        return self._service(name).history(name, limit)

    def act(self, name: str, action: str, actor: str) -> Rollout:
        """promote | abort | rollback; a UserError says why it cannot be done now."""
        return ACTIONS[action](self._service(name), name, actor)

    def deploy(self, name: str, digest: str, actor: str) -> Rollout:
        """Roll out a bundle already built for this directory (by digest or its prefix); a
        deployed environment's name only, never a file path."""
        return self._service(name).deploy(name, digest, actor)[1]

    def override(
        self, name: str, bypass: list[str], reason: str, ttl: str, actor: str, drill: bool
    ) -> Drill:
        return self._service(name).override(name, bypass, reason, ttl, actor, drill)

    def approve_override(self, override_id: int, actor: str) -> Drill:
        return self._service(f"#{override_id}").approve_override(override_id, actor)

    def revoke_override(self, override_id: int, actor: str) -> Override:
        return self._service(f"#{override_id}").revoke_override(override_id, actor)

    def overrides(self, name: str) -> list[Override]:
        return self._service(name).overrides(name)

    def bundles(self, limit: int = 20) -> list[StoredBundle]:
        """The bundles built in the directory, newest first: what can be deployed."""
        kept = self.service.bundles(limit) if self.service is not None else []
        return [StoredBundle(digest, at) for digest, at in kept]

    # -- GitOps: the --deployments checkout's config repository (lockgate.yml `gitops:`) ----
    def _gitops(self) -> GitopsSync:
        settings = configured(self.service) if self.service is not None else None
        if self.service is None or settings is None:
            raise NoGitops(
                "the server follows no config repository",
                hint="start it with --deployments DIR, DIR's lockgate.yml naming `gitops:`",
            )
        return GitopsSync(self.service, settings, GitopsRecords(self.records.store))

    def follow(self) -> bool:
        """At start: make sure an agent follows the config repository, if there is one."""
        if self.service is None or configured(self.service) is None:
            return False
        start_agent(self.service.repo, self.service.state, self.records.url)
        return True

    def gitops_of(self, name: str) -> EnvironmentSync | None:
        """The environment's sync state, when the server follows a config repository."""
        try:
            state = self._gitops().state()
        except NoGitops:
            return None
        return next((e for e in state.environments if e.environment == name), None)

    def gitops_state(self) -> SyncReport:
        return self._gitops().state()

    def config_repository(self) -> ConfigRepository | None:
        """The config repository the server follows (its bare copy is the agent's), if any."""
        try:
            return self._gitops().repository
        except NoGitops:
            return None

    def gitops_plan(self, ref: str | None = None) -> ConfigPlan:
        """What applying the config at `ref` would change (a pull request's head, say)."""
        sync = self._gitops()
        return plan(sync.service, sync.repository.settings, sync.records, ref)

    def gitops_sync(self, request: SyncRequest) -> SyncReport:
        """A manual sync pass, now (the agent carries the rollouts on)."""
        report = self._gitops().run(request)
        self.follow()
        return report

    def gitops_wake(self) -> None:
        """A push to the config repository: the agent takes a pass at once."""
        self._gitops()
        assert self.service is not None
        request_sync(self.service.state)
        self.follow()

    def analyses(self, deployment_id: int) -> tuple[Rollout, list[Analysis]] | None:
        found = self.records.rollout(deployment_id)
        return (found, self.records.analyses(deployment_id)) if found is not None else None
