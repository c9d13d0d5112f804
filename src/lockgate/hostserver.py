"""The deploying lockgate's hands on an SSH host.

`python -m lockgate.hostserver BASE` answers JSON requests on stdin, one answer line each on
stdout, for as long as its SSH channel lives (one interpreter for a whole connection, not one
per request). Every request counts as contact, so the host's agent (lockgate.hostagent) knows a
deploying lockgate supervises; an agent is started whenever none runs. Fleets must lie under
BASE/fleet: a request never names another path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import __version__, hostagent, hostside


class BadRequest(Exception):
    """A request this server does not take; the answer says why."""


def _fleet(base: Path, request: dict[str, Any]) -> Path:
    """The request's fleet directory, absolute (the agent runs elsewhere than this server)."""
    fleet = Path(str(request["fleet"])).resolve()
    if fleet.parent != base / "fleet":
        raise BadRequest(f"{fleet} is not a fleet under {base / 'fleet'}")
    return fleet


def _digest(item: dict[str, Any]) -> str:
    """A digest from a request: 64 hex digits, so never a path."""
    digest = str(item["digest"])
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise BadRequest(f"{digest[:80]!r} is not a digest")
    return digest


def answer(base: Path, request: dict[str, Any]) -> dict[str, Any]:
    """One request ({"op": ..., arguments}) -> a JSON-able answer."""
    op = request["op"]
    hostagent.contact(base)
    if op == "ping":
        return {"version": __version__}
    fleet = _fleet(base, request)
    if op == "start":
        bundle = str(Path(request["launch"]["bundle"]).resolve())
        launch = hostside.Launch(**{**request["launch"], "fleet": str(fleet), "bundle": bundle})
        try:
            entry = hostagent.start(launch)
        except hostside.CannotStart as exc:
            return {"error": str(exc)}
        return {"ref": str(entry.pgid), "address": entry.address}
    if op == "observe":
        hostagent.ensure_running(base)  # once a pass: a dead agent is back within a second
        booked = hostagent.pgids(fleet)  # the agent may have started some again
        looks = [
            hostside.Look(**{**item, "pgid": booked.get(item["instance_id"], item["pgid"])})
            for item in request["looks"]
        ]
        return {"seen": [vars(seen) for seen in hostside.observe_many(looks)]}
    if op == "sweep":
        return {"stopped": hostagent.sweep(fleet, set(request["keep"]))}
    if op == "release_changes":
        return {
            "changes": [
                hostside.release_changes(fleet, int(i["slot"]), _digest(i))
                for i in request["items"]
            ]
        }
    if op == "condemn":
        hostside.condemn(fleet, int(request["slot"]), _digest(request))
        return {}
    instance_id, recorded = str(request["instance_id"]), int(request["ref"])
    if op == "stop":
        hostagent.stop(fleet, instance_id, recorded, int(request["signal"]))
    elif op == "kill":
        hostagent.kill(fleet, instance_id, recorded)
    else:
        raise BadRequest(f"unknown request {op!r}")
    return {}


def main(base: Path) -> None:
    base.mkdir(parents=True, exist_ok=True)
    base = base.resolve()
    hostagent.ensure_running(base)
    for line in sys.stdin:
        hostagent.reap()  # instances it started and that exited are no zombies
        try:
            reply = answer(base, json.loads(line))
        except (BadRequest, ValueError, KeyError, TypeError) as exc:
            reply = {"error": f"bad request: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
