"""The `local` target: each instance is a process group on this machine (lockgate.hostside
does the work, in this process); its reference is the process group's id."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from ... import hostside
from ...artifacts.manifest import AppManifest
from ...store.deployments import Instance
from .base import HostSeen, Look, Observed, Placed, StartFailed


class LocalTarget:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.children: dict[int, subprocess.Popen[bytes]] = {}  # reaped as they are observed

    def prepare(self, bundle: Path, digest: str) -> list[str]:
        return []  # the bundle is on this machine

    def start(self, instance: Instance, bundle: Path, app: AppManifest) -> Placed:
        launch = hostside.Launch(
            str(self.directory),
            instance.id,
            instance.slot,
            instance.digest,
            str(bundle),
            app.start,
            "127.0.0.1",
        )
        try:
            process, address = hostside.start(launch)
        except hostside.CannotStart as exc:
            raise StartFailed(str(exc)) from None
        self.children[process.pid] = process
        return Placed(str(process.pid), address)

    def release_changes(self, instances: Sequence[Instance]) -> list[list[str] | None]:
        return [hostside.release_changes(self.directory, i.slot, i.digest) for i in instances]

    def condemn(self, instance: Instance) -> None:
        hostside.condemn(self.directory, instance.slot, instance.digest)

    def log_of(self, instance: Instance) -> str:
        return str(hostside.log_path(self.directory, instance.slot, instance.id))

    def _reap(self, pgid: int) -> None:
        """A long-lived agent leaves no zombie: its own children are waited for."""
        child = self.children.get(pgid)
        if child is not None and child.poll() is not None:
            del self.children[pgid]

    def observe(self, looks: Sequence[Look]) -> list[Observed]:
        located = [(look, _pgid(look.instance)) for look in looks]
        for _, pgid in located:
            if pgid is not None:
                self._reap(pgid)
        asked = [
            hostside.Look(
                pgid, look.instance.id, look.instance.address, look.app.readiness, look.probe
            )
            for look, pgid in located
            if pgid is not None
        ]
        seen = iter(hostside.observe_many(asked))
        return [
            Observed(**vars(next(seen))) if pgid is not None else Observed(False, None, False)
            for _, pgid in located
        ]

    def signal_stop(self, instance: Instance, app: AppManifest) -> None:
        pgid = _pgid(instance)
        if pgid is not None:
            hostside.stop(pgid, instance.id, app.signal_number)

    def kill(self, instance: Instance) -> None:
        pgid = _pgid(instance)
        if pgid is not None:
            hostside.kill(pgid, instance.id)
            self._reap(pgid)

    def sweep(self, keep: set[str]) -> list[str]:
        return hostside.sweep(self.directory, keep)

    def placement(self, slot: int) -> str:
        return "local"

    def hosts(self) -> list[HostSeen]:
        return []


def _pgid(instance: Instance) -> int | None:
    return int(instance.ref) if instance.ref and instance.ref.isdigit() else None
