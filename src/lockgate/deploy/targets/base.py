"""What the reconciler asks of a target: start, observe and stop single instances.

Transport-neutral: an instance is named by the target's own reference (`ref`, opaque to the
reconciler) and reached at an address; a target on other hosts is one more module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...artifacts.manifest import AppManifest
from ...store.deployments import Instance


class StartFailed(Exception):
    """An instance could not be started (its reason is shown in the rollout report)."""


class HostLost(StartFailed):
    """The instance's host stopped answering as it was started, and the environment goes on
    without lost hosts (`on-host-failure: fence`): its slot is fenced, the rollout goes on."""


@dataclass(frozen=True)
class Placed:
    """Where a started instance runs: the target's reference and its host:port."""

    ref: str
    address: str


@dataclass(frozen=True)
class Look:
    """An instance to observe, its app, and whether to probe its readiness."""

    instance: Instance
    app: AppManifest
    probe: bool = True


@dataclass(frozen=True)
class Observed:
    """An instance as the target finds it now, read from the instance, not remembered."""

    alive: bool
    digest: str | None  # the digest of the release it runs, None when unknown
    ready: bool
    reachable: bool = True  # False: its host did not answer, so nothing is known of it


@dataclass(frozen=True)
class HostSeen:
    """A host as this process last found it: whether it answered, and when it last did."""

    name: str
    reachable: bool
    last_seen: float | None


class Target(Protocol):
    def prepare(self, bundle: Path, digest: str) -> list[str]:
        """Make `digest` startable wherever instances run, before a rollout begins (copies,
        checks); what it did, for the rollout's events. UserError, with nothing changed,
        when it cannot be."""
        ...

    def start(self, instance: Instance, bundle: Path, app: AppManifest) -> Placed:
        """Start `instance` (its slot and digest) from the bundle; StartFailed if it cannot."""
        ...

    def observe(self, looks: Sequence[Look]) -> list[Observed]:
        """Each instance: alive, its digest, and (when asked) whether its readiness check
        answers; all at once (side by side, a round trip per host)."""
        ...

    def release_changes(self, instances: Sequence[Instance]) -> list[list[str] | None]:
        """Each instance's release: what differs on disk from the files it was unpacked
        with (empty: nothing); None when that cannot be told (its host did not answer)."""
        ...

    def condemn(self, instance: Instance) -> None:
        """Its release was changed on disk: have the agent replace it from the bundle."""

    def signal_stop(self, instance: Instance, app: AppManifest) -> None:
        """Ask it to stop (the app's stop signal); it has its grace period to finish."""

    def kill(self, instance: Instance) -> None:
        """Stop it now, with whatever it left behind."""

    def sweep(self, keep: set[str]) -> list[str]:
        """Stop instances this target started that are not in `keep` (ids); returns them."""
        ...

    def log_of(self, instance: Instance) -> str:
        """Where its output goes, for messages."""
        ...

    def placement(self, slot: int) -> str:
        """The host a slot's instances run on."""
        ...

    def hosts(self) -> list[HostSeen]:
        """The hosts this process contacted, as last found (none for this machine)."""
        ...
