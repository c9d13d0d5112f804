"""The environments the server shows and drives: those deployed from one repository directory
(`lockgate serve --deployments DIR`, the checkout `lockgate deploy` ran in). An action writes
the desired state as the CLI's commands do and leaves the carrying out to that directory's
agent, which it starts when none runs; the request never waits for a rollout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import bundles, signed
from ..common.errors import UserError
from ..common.statedir import state_path
from ..deploy import status
from ..deploy.agent import environment_files, start_agent
from ..deploy.envfile import load_environment
from ..deploy.environment import Environment
from ..deploy.reconciler import Reconciler
from ..store import Store
from ..store.deployments import DeploymentRecords, Rollout

ACTIONS: dict[str, Callable[[Environment, str], Rollout]] = {
    "promote": lambda environment, _actor: environment.promote(),
    "abort": lambda environment, actor: environment.abort(f"aborted by {actor}"),
    "rollback": lambda environment, actor: environment.rollback(actor),
}


class UnknownEnvironment(LookupError):
    pass


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
        self.state = state_path(repo) if repo is not None else None
        self.records = DeploymentRecords(store)

    def names(self) -> list[str]:
        return sorted(environment_files(self.state)) if self.state is not None else []

    def overview(self) -> list[Summary]:
        found = []
        for name in self.names():
            try:
                view = self.status(name)
            except (UserError, OSError) as exc:  # a broken file: said, not a failed page
                found.append(Summary(name, None, None, None, [], str(exc)))
                continue
            found.append(Summary(name, view.app, view.health.value, view.digest, view.reasons))
        return found

    def reconciler(self, name: str) -> Reconciler:
        files = environment_files(self.state) if self.state is not None else {}
        if name not in files or self.state is None:
            raise UnknownEnvironment(name)
        known, spec = load_environment(files[name], name)
        return Reconciler(known, spec, self.state, self.records)

    def status(self, name: str) -> status.StatusView:
        return status.view(self.reconciler(name))

    def history(self, name: str, limit: int = 20) -> list[Rollout]:
        self.reconciler(name)  # an unknown name is refused, not answered with nothing
        return self.records.history(name, limit)

    def act(self, name: str, action: str, actor: str) -> Rollout:
        """promote | abort | rollback; a UserError says why it cannot be done now."""
        rollout = ACTIONS[action](Environment(self.reconciler(name)), actor)
        self._carry_on()
        return rollout

    def deploy(self, name: str, digest: str, actor: str) -> Rollout:
        """Roll out a bundle already built for this directory (by digest or its prefix)."""
        rollout = Environment(self.reconciler(name)).deploy(digest, actor)
        self._carry_on()
        return rollout

    def bundles(self, limit: int = 20) -> list[StoredBundle]:
        """The bundles built in the directory, newest first: what can be deployed."""
        if self.state is None:
            return []
        kept = bundles.stored(signed.store_dir(self.state), limit)
        return [StoredBundle(digest, at) for digest, at in kept]

    def analyses(self, deployment_id: int) -> tuple[Rollout, list[dict[str, Any]]] | None:
        found = self.records.rollout(deployment_id)
        return (found, self.records.analyses(deployment_id)) if found is not None else None

    def _carry_on(self) -> None:
        assert self.repo is not None and self.state is not None
        start_agent(self.repo, self.state, self.records.url)
