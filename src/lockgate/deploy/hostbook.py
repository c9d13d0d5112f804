"""Which hosts of an environment answer, kept across processes: since when each is unreachable
and when it was last seen. The reconciler writes it when a host changes; `status` reads it
(its own look tells whether a host answers now, not since when it has not)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .targets.base import HostSeen


@dataclass(frozen=True)
class HostHealth:
    name: str
    reachable: bool
    since: float  # when it last became reachable or unreachable
    last_seen: float | None  # when it last answered


class HostBook:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.known: dict[str, HostHealth] = {}
        self.load()

    def load(self) -> None:
        """What the file says now (another process may have written it)."""
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            raw = json.loads(self.path.read_text())
            self.known = {item["name"]: HostHealth(**item) for item in raw}

    def down(self) -> list[HostHealth]:
        return [h for h in self.known.values() if not h.reachable]

    def update(self, seen: Sequence[HostSeen], now: float) -> list[HostHealth]:
        """Take this pass's look; the hosts that changed (a first look at a reachable host is
        no change). Written at once when any did; call it under the environment's lock."""
        self.load()
        changed = []
        for host in seen:
            known = self.known.get(host.name)
            if known is None and host.reachable:
                self.known[host.name] = HostHealth(host.name, True, now, host.last_seen)
                continue
            if known is not None and known.reachable == host.reachable:
                continue
            last = host.last_seen if host.last_seen is not None else (known and known.last_seen)
            self.known[host.name] = HostHealth(host.name, host.reachable, now, last or None)
            changed.append(self.known[host.name])
        if changed:
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            temp.write_text(json.dumps([asdict(h) for h in self.known.values()]))
            os.replace(temp, self.path)
        return changed
