"""What the controller asks of a target: start, check, inspect and stop single instances."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...artifacts.manifest import AppManifest


class StartFailed(Exception):
    """An instance could not be started (its reason is shown in the rollout report)."""


@dataclass(frozen=True)
class Started:
    id: str
    slot: int
    digest: str
    address: str  # host:port
    pid: int
    release_dir: str


@dataclass(frozen=True)
class Observed:
    """An instance as the target finds it now, read from the instance, not remembered."""

    alive: bool
    digest: str | None  # the digest of the release the process runs, None when unknown
    ready: bool


class Target(Protocol):
    def start(
        self, instance_id: str, slot: int, bundle: Path, digest: str, app: AppManifest
    ) -> Started: ...

    def ready(self, address: str, app: AppManifest) -> bool: ...

    def observe(self, pid: int | None, address: str, app: AppManifest) -> Observed: ...

    def stop(self, pids: list[int | None], app: AppManifest) -> None:
        """Stop these instances: the app's stop signal, its grace period, then kill."""

    def sweep(self, keep: set[str]) -> list[str]:
        """Stop instances this target started that are not in `keep` (ids); returns them."""
        ...
