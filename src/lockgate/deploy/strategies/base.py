"""The strategy interface: one reconcile step of a rollout, given a narrow view of the fleet.

A strategy never waits: it looks at the instances as last observed, takes the next idempotent
actions through the Fleet, and says where the rollout stands (Progress). Its own position (the
step index, a canary's weight) lives in the stored Rollout, so any process can take the next
step after another was killed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ...store.deployments import Instance, Rollout
from ..envfile import StrategySpec

SIDE_POOLS = ("canary", "baseline")  # a canary's instances beside the main set


@dataclass(frozen=True)
class Wait:
    """Not there yet: `phase` says what it waits for; look again after `seconds`."""

    phase: str
    seconds: float = 0.05


@dataclass(frozen=True)
class Done:
    message: str


@dataclass(frozen=True)
class Fail:
    reason: str
    slot: int | None = None  # the instance that could not converge, when one is to blame


@dataclass(frozen=True)
class Pause:
    """Stored, never slept: the rollout waits for `lockgate promote` (or `abort`)."""

    reason: str
    approval: bool = False  # a blue-green preview awaiting approval, else a paused step


Progress = Wait | Done | Fail | Pause


class Fleet(Protocol):
    """What a strategy may see and do: instances, and the four moves a rollout is made of."""

    name: str
    replicas: int
    strategy: StrategySpec
    now: float
    fenced: set[int]  # slots whose host does not answer: left out until it does

    def instances(self) -> list[Instance]:
        """Live instances, with their last observation (ready, ready_since)."""
        ...

    def dead(self, instance: Instance) -> bool:
        """Whether the instance was found not running in this pass."""
        ...

    def log_of(self, instance: Instance) -> str: ...

    def launch(self, slot: int, digest: str, pool: str) -> Instance:
        """Record, then start, an instance; raises StartFailed when it cannot start."""
        ...

    def start_again(self, instance: Instance) -> None:
        """Start a recorded instance's process once more; raises StartFailed."""

    def park(self, instances: Sequence[Instance]) -> None:
        """Ready, kept out of rotation until served."""

    def serve(self, instances: Sequence[Instance], retire: Sequence[Instance] = ()) -> None:
        """Into rotation, and `retire` out of it, in one router change."""

    def standby(self, instances: Sequence[Instance], reason: str | None = None) -> None:
        """Out of rotation, kept running."""

    def retire(self, instances: Sequence[Instance]) -> None:
        """Out of the router, then stopped."""

    def healthy_now(self, instance: Instance) -> bool:
        """A live look: running, ready and on its digest (to bring a standby back)."""
        ...

    def note(self, text: str) -> None:
        """An event of this rollout."""

    def measure(self, rollout: Rollout, label: str, number: int) -> str:
        """One canary measurement since the weight was set, stored; its verdict."""
        ...

    def verdicts(self, rollout: Rollout, label: str) -> list[str]:
        """The verdicts of the measurements taken at step `label` so far."""
        ...

    def smoke(self, instances: Sequence[Instance]) -> str | None:
        """The smoke checks on a new set: why they failed, or None."""
        ...


class Strategy(Protocol):
    def step(self, rollout: Rollout, fleet: Fleet) -> Progress:
        """Compare and take the next actions toward `rollout.goal`."""
        ...

    def abandon(self, rollout: Rollout, fleet: Fleet) -> None:
        """Give up the rollout's extra pieces (a canary's instances); what served keeps serving."""
