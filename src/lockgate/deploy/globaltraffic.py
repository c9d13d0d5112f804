"""The global router of a multi-region environment: one built-in router whose backends are
the regions' routers, weighted per region (as Route 53 weighted records or Azure Traffic
Manager share traffic between regions).

Every pass it looks at each region (its router answers and has an instance in rotation) and
applies the asked-for weights with the unhealthy regions drained to the others, in one table
change, so no request sees half of a shift. A regional router that has no instance to give a
request answers so that the global router retries it in another region (proxy.py), so a region
failing between two passes costs no request either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..common.errors import UserError
from ..common.files import replace_whole
from ..common.httpcheck import Unreachable
from ..store.deployments import DeploymentRecords
from .envfile import EnvironmentFile
from .regions import region_environment
from .traffic import router_for
from .traffic.base import Route, Router
from .traffic.builtin import BuiltinRouter

WEIGHTS = "weights.json"  # the weights last asked for with `lockgate traffic`


def shares(asked: Mapping[str, int], healthy: Mapping[str, bool]) -> dict[str, int]:
    """Each region's weight: as asked, with unhealthy regions at 0. When every region that
    was to take traffic is unhealthy, the healthy ones share it equally (a blue-green's idle
    side takes over); when none is healthy, the asked weights stand (nothing better exists)."""
    usable = {r: w for r, w in asked.items() if healthy.get(r)}
    if not usable:
        return dict(asked)
    if not any(usable.values()):
        usable = dict.fromkeys(usable, 1)
    return {r: usable.get(r, 0) for r in asked}


def parse_weights(spec: EnvironmentFile, pairs: list[str]) -> dict[str, int]:
    """`REGION=WEIGHT` pairs: every region not named keeps its current share of nothing (0)."""
    names = spec.region_names()
    found: dict[str, int] = {}
    for pair in pairs:
        region, sep, weight = pair.partition("=")
        if not sep or not weight.strip().isdigit():
            raise UserError(
                f"{pair!r} is not REGION=WEIGHT", where="WEIGHTS", hint="e.g. eu-west=100"
            )
        if region not in names:
            raise UserError(
                f"no region {region!r}: the environment's regions are {', '.join(names)}",
                where="WEIGHTS",
            )
        found[region] = int(weight)
    if not any(found.values()):
        raise UserError("at least one region needs a weight above 0", where="WEIGHTS")
    return {name: found.get(name, 0) for name in names}


@dataclass(frozen=True)
class RegionTraffic:
    region: str
    asked: int  # the weight asked for
    weight: int  # the weight the global router gives it now
    healthy: bool
    why: str | None  # why it is unhealthy
    requests: int  # sent to it by the global router since the router started


class GlobalTraffic:
    def __init__(
        self, name: str, spec: EnvironmentFile, state_dir: Path, records: DeploymentRecords
    ) -> None:
        assert spec.global_router is not None
        self.name, self.spec, self.records = name, spec, records
        self.dir = state_dir / "fleet" / name
        # its idle regions take what a failing region cannot, until the next pass drains it
        self.router = BuiltinRouter(self.dir, spec.global_router.port, fallback=True)
        self.regional: dict[str, Router] = {
            r.name: router_for(
                r.router.type, state_dir / "fleet" / region_environment(name, r.name), r.router.port
            )
            for r in spec.regions
        }

    def asked(self) -> dict[str, int]:
        """The weights last asked for, else the environment file's."""
        defaults = {r.name: r.weight for r in self.spec.regions}
        try:
            kept = json.loads((self.dir / WEIGHTS).read_text())
        except (OSError, ValueError):
            return defaults
        if not isinstance(kept, dict) or set(kept) != set(defaults):
            return defaults  # the regions changed since: the file's weights apply
        return {r: int(kept[r]) for r in defaults}

    def ask(self, weights: dict[str, int], actor: str) -> None:
        """Keep new weights (the next pass applies them, in one table change)."""
        replace_whole(self.dir / WEIGHTS, json.dumps(weights))
        said = ", ".join(f"{r}={w}" for r, w in weights.items())
        self.records.add_event(self.name, f"traffic weights set to {said} by {actor}", None)

    def health(self, region: str) -> str | None:
        """Why the region cannot take traffic now (None: it can)."""
        try:
            table = self.regional[region].table()
        except (Unreachable, OSError, ValueError):
            return "its router does not answer"
        if not any(route.weight > 0 for route in table):
            return "no instance in rotation"
        return None

    def _judged(self) -> tuple[dict[str, int], dict[str, str | None], dict[str, int]]:
        """(weights asked, each region's problem, the weights its health allows)."""
        asked = self.asked()
        problems = {r: self.health(r) for r in asked}
        return asked, problems, shares(asked, {r: p is None for r, p in problems.items()})

    def look(self) -> list[RegionTraffic]:
        asked, problems, given = self._judged()
        try:
            table = {r.id: r for r in self.router.table()}
        except (Unreachable, OSError, ValueError):
            table = {}
        return [
            RegionTraffic(
                r,
                asked[r],
                table[r].weight if r in table else 0,
                problems[r] is None,
                problems[r],
                table[r].requests if r in table else 0,
            )
            for r in given
        ]

    def converge(self) -> None:
        """One pass: the global router runs and holds the weights the regions' health allows."""
        self.router.ensure()
        _, problems, given = self._judged()
        wanted = [
            Route(id=r, address=self.regional[r].address, weight=w, pool=r)
            for r, w in given.items()
        ]
        held = {r.id: r.weight for r in self.router.table()}
        if held == given and len(held) == len(wanted):
            return
        self.router.apply(wanted)
        changes = [
            f"{r} {held.get(r, 0)}->{w}" + (f" ({problems[r]})" if problems[r] else "")
            for r, w in given.items()
            if held.get(r) != w
        ]
        self.records.add_event(self.name, f"global router: {'; '.join(changes)}", None)

    def stop(self) -> None:
        self.router.stop()
