"""What the live environment has otherwise than git says. Pure: given what git wants and what
was read and looked at, list the differences (the live diff `gitops status` and `plan` show)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...store.deployments import InstanceState, Rollout, RolloutStatus
from ...store.gitops import Difference
from ..envfile import EnvironmentFile
from ..status import StatusView
from ..strategies.base import SIDE_POOLS


@dataclass(frozen=True)
class Live:
    """What is there now: the kept environment file, the latest rollout, and a look."""

    document: Mapping[str, Any] | None  # the environment file on this machine (None: none)
    rollout: Rollout | None
    view: StatusView | None  # None: never deployed
    altered: Mapping[int, list[str]] = field(default_factory=dict)  # slot -> files changed


def normalized(document: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of an environment file, defaults filled in, as flat dotted keys, so a
    default written out is no difference and a changed default is one."""
    full = EnvironmentFile.model_validate(dict(document)).model_dump(by_alias=True)
    full.pop("environment", None)
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            flat[prefix] = value

    walk("", full)
    return flat


def _shown(value: Any) -> str:
    return "(unset)" if value is None else str(value)


def differences(digest: str, document: Mapping[str, Any], live: Live) -> list[Difference]:
    """Git's digest and environment document against the live environment."""
    found: list[Difference] = []
    if live.document is None:
        found.append(Difference("environment file", "as git has it", "missing or unreadable"))
    else:
        want, have = normalized(document), normalized(live.document)
        for key in sorted(set(want) | set(have)):
            if want.get(key) != have.get(key):
                found.append(Difference(key, _shown(want.get(key)), _shown(have.get(key))))
    rollout = live.rollout
    if rollout is None:
        found.append(Difference("digest", digest[:12], "nothing deployed"))
        return found
    if rollout.status == RolloutStatus.STOPPED:
        found.append(Difference("digest", digest[:12], "stopped with `lockgate down`"))
        return found
    goal = rollout.intended
    if goal != digest:
        by = rollout.triggered_by if rollout.config_commit is None else "gitops"
        found.append(Difference("digest", digest[:12], f"{_shown(goal)[:12]} (by {by})"))
    if live.view is not None and rollout.status.finished:
        found.extend(_fleet(digest, _replicas(document), live.view))
        for slot, changes in sorted(live.altered.items()):
            shown = ", ".join(changes[:5]) + (
                f" and {len(changes) - 5} more" if len(changes) > 5 else ""
            )
            found.append(Difference(f"instance {slot} release", "as built", shown))
    return found


def _replicas(document: Mapping[str, Any]) -> int:
    return EnvironmentFile.model_validate(dict(document)).target.replicas


def _fleet(digest: str, replicas: int, view: StatusView) -> list[Difference]:
    """At rest: each slot serves the digest, once, in rotation, and nothing else has weight."""
    found = []
    main = [
        v
        for v in view.instances
        if v.state == InstanceState.SERVING.value and v.pool not in SIDE_POOLS
    ]
    if len(main) != replicas:
        found.append(Difference("instances", str(replicas), str(len(main))))
    for instance in sorted(main, key=lambda v: v.index):
        if not instance.reachable:
            continue  # unknown, not different: its host did not answer
        if instance.digest != digest:
            found.append(
                Difference(
                    f"instance {instance.index} digest", digest[:12], _shown(instance.digest)[:12]
                )
            )
    if view.router_up:
        weights = {v.index: v.weight for v in main}
        stray = [v for v in view.instances if v not in main and v.weight > 0]
        if any(w <= 0 for w in weights.values()) or len(set(weights.values())) > 1 or stray:
            have = " ".join(f"{v.index}:{v.weight}" for v in sorted(main, key=lambda v: v.index))
            extra = " ".join(f"{v.pool}{v.index}:{v.weight}" for v in stray)
            found.append(
                Difference("router weights", "equal, main set only", f"{have} {extra}".strip())
            )
    else:
        found.append(Difference("router", "up", "down"))
    return found
