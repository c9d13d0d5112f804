"""A multi-region environment as the environments it is made of.

Each region of `shop` runs as an environment of its own, `shop.eu-west`: its own fleet, router,
reconciler and history, supervised by the agent like any other. What makes them one
environment is the parent: its waves decide which region gets a release when (waves.py), and
its global router shares traffic between theirs (globaltraffic.py). This module only derives
a region's environment file from the parent's; it is pure.
"""

from __future__ import annotations

from typing import Any

from ..common.errors import UserError
from .envfile import EnvironmentFile, RegionDef, Step, StrategySpec


def region_environment(parent: str, region: str) -> str:
    return f"{parent}.{region}"


def region_of(spec: EnvironmentFile, name: str) -> RegionDef:
    found = next((r for r in spec.regions if r.name == name), None)
    if found is None:
        raise UserError(
            f"no region {name!r}: the environment's regions are {', '.join(spec.region_names())}",
            where="REGION",
        )
    return found


def region_strategy(spec: EnvironmentFile, region: RegionDef) -> StrategySpec:
    """The region's strategy. A region whose first wave takes only some of its instances
    runs a canary of that many, paused until the wave that finishes it promotes it."""
    strategy = region.strategy or spec.strategy
    first = next(w for w in spec.wave_plan() if region.name in w.regions)
    if first.instances is None:
        return strategy
    share = max(1, round(100 * first.instances / region.target.replicas))
    steps = [Step.model_validate({"set-weight": share}), Step(pause="until-promoted")]
    return strategy.model_copy(
        update={
            "type": "canary",
            "canary_replicas": first.instances,
            "steps": steps,
            "preset": None,
        }
    )


def region_document(parent: str, spec: EnvironmentFile, name: str) -> dict[str, Any]:
    """The environment file of one region of `spec` (as data, ready to keep)."""
    region = region_of(spec, name)
    document: dict[str, Any] = {
        "app": spec.app,
        "environment": region_environment(parent, name),
        "part-of": parent,
        "labels": dict(spec.labels),
        "region": {"name": region.name, "labels": dict(region.labels)},
        "break-glass": spec.break_glass.model_dump(by_alias=True),
        "target": region.target.model_dump(by_alias=True, exclude_unset=True),
        "router": region.router.model_dump(by_alias=True),
        "strategy": region_strategy(spec, region).model_dump(by_alias=True, exclude_unset=True),
        "provenance": spec.provenance.model_dump(by_alias=True),
    }
    if spec.audit_log is not None:
        kept = region_of(spec, spec.audit_log.region)
        document["audit-log"] = {"region": kept.name}
        if kept.name != name:  # kept in another region of the parent: say where that is
            document["audit-log"]["labels"] = dict(kept.labels)
    return document


def region_documents(parent: str, spec: EnvironmentFile) -> dict[str, dict[str, Any]]:
    """Each region's environment name -> its environment file (as data)."""
    return {
        region_environment(parent, name): region_document(parent, spec, name)
        for name in spec.region_names()
    }
