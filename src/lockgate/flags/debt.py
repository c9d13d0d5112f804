"""Flag debt: flags past the lifetime their type expects, and flags that have answered the same
for everyone for long (their `if` is dead code waiting to be removed)."""

from __future__ import annotations

from dataclasses import dataclass

from ..store.flags import FlagRecord, FlagState
from .definitions import Feature, Strategy

DAY = 86400.0


@dataclass(frozen=True)
class Debt:
    flag: str
    kind: str
    reasons: list[str]
    references: list[str]  # file:line where code still names it (when a directory was given)


def settled(feature: Feature) -> str | None:
    """ "on" or "off" when the flag answers the same for everyone, else None."""
    if not feature.enabled:
        return "off"
    live = [s for s in feature.strategies if not s.disabled]
    if not feature.strategies or any(_for_everyone(s) for s in live):
        return "on"
    return None


def _for_everyone(strategy: Strategy) -> bool:
    if strategy.constraints or strategy.segments:
        return False
    if strategy.name == "default":
        return True
    percent = strategy.parameters.get("rollout") or strategy.parameters.get("percentage")
    return strategy.name.startswith(("flexibleRollout", "gradualRollout")) and percent == "100"


def assess(
    record: FlagRecord,
    states: list[tuple[str, Feature, FlagState]],
    now: float,
    settled_days: float,
) -> list[str]:
    """Why `record` is flag debt (nothing: it is not). `states`: (environment, as served, as
    stored) for each environment the flag was set in."""
    reasons: list[str] = []
    lifetime = record.kind.lifetime_days
    age = (now - record.created_at) / DAY
    if lifetime is None:
        return reasons  # a kill switch or a permission is meant to stay, on or off
    if age > lifetime:
        reasons.append(f"{age:.0f} days old; a {record.kind} flag is expected to live {lifetime}")
    for environment, feature, stored in states:
        answer = settled(feature)
        days = (now - stored.changed_at) / DAY
        if answer is not None and days > settled_days:
            reasons.append(f"{answer} for everyone in {environment} for {days:.0f} days")
    return reasons
