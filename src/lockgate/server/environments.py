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
from ..deploy.service import DeployService, UnknownEnvironment
from ..store import Store
from ..store.deployments import Analysis, DeploymentRecords, Rollout

ACTIONS: dict[str, Callable[[DeployService, str, str], Rollout]] = {
    "promote": lambda service, name, _actor: service.promote(name)[1],
    "abort": lambda service, name, actor: service.abort(name, f"aborted by {actor}")[1],
    "rollback": lambda service, name, actor: service.rollback(name, actor)[1],
}

__all__ = ["ACTIONS", "Environments", "StoredBundle", "Summary", "UnknownEnvironment"]


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

    def bundles(self, limit: int = 20) -> list[StoredBundle]:
        """The bundles built in the directory, newest first: what can be deployed."""
        kept = self.service.bundles(limit) if self.service is not None else []
        return [StoredBundle(digest, at) for digest, at in kept]

    def analyses(self, deployment_id: int) -> tuple[Rollout, list[Analysis]] | None:
        found = self.records.rollout(deployment_id)
        return (found, self.records.analyses(deployment_id)) if found is not None else None
