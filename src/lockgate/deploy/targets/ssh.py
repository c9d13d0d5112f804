"""The `ssh` target: instances are process groups on hosts reached over SSH, spread over them
(slot i on host i mod the number of hosts), each listening on its host's address. The work on
a host is done by lockgate.hostserver there; an instance's reference is `host:port#pgid`.

A host that cannot be reached reports its instances unreachable (they leave rotation; nothing
is known of them until it answers again) and refuses new ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...artifacts.manifest import AppManifest
from ...common.errors import UserError
from ...store.deployments import Instance
from ..envfile import HostSpec, TargetSpec
from .base import HostLost, HostSeen, Look, Observed, Placed, StartFailed
from .sshhosts import Hosts, HostUnreachable, base_of, host_name


class SSHTarget:
    def __init__(self, spec: TargetSpec, environment: str) -> None:
        self.ssh = Hosts(spec)
        self.by_name = {host_name(h): h for h in self.ssh.all}
        self.environment = environment

    def fleet(self, host: HostSpec) -> str:
        return f"{base_of(host)}/fleet/{self.environment}"

    def host_for(self, slot: int) -> HostSpec:
        return self.ssh.all[slot % len(self.ssh.all)]

    def _located(self, instance: Instance) -> tuple[HostSpec, int] | None:
        name, _, pgid = (instance.ref or "").rpartition("#")
        host = self.by_name.get(name)
        return (host, int(pgid)) if host is not None and pgid.isdigit() else None

    def prepare(self, bundle: Path, digest: str) -> list[str]:
        """Every host verified, running lockgate and holding the bundle, side by side. A host
        that cannot be reached refuses the deploy before anything changes, unless
        `on-host-failure: fence` lets it go on without that host."""

        def ready(host: HostSpec) -> str:
            self.ssh.hostside(host, {"op": "ping"})  # installs lockgate there if missing
            sent = self.ssh.send_bundle(host, bundle, digest)
            if sent:
                return f"bundle {digest[:12]} sent to {host_name(host)} ({sent} bytes)"
            return f"bundle {digest[:12]} already on {host_name(host)} (0 bytes sent)"

        done: list[str] = []
        with ThreadPoolExecutor(self.ssh.spec.max_parallel_hosts) as pool:
            for host, work in [(h, pool.submit(ready, h)) for h in self.ssh.all]:
                try:
                    done.append(work.result())
                except HostUnreachable as exc:
                    if self.ssh.spec.on_host_failure != "fence":
                        hint = "bring the host back, remove it, or set `on-host-failure: fence`"
                        raise UserError(str(exc), hint=hint) from None
                    done.append(f"host {host_name(host)} fenced: {exc}")
        return done

    def start(self, instance: Instance, bundle: Path, app: AppManifest) -> Placed:
        host = self.host_for(instance.slot)
        try:
            remote = self.ssh.bundle(host, bundle, instance.digest)
            launch = {
                "fleet": self.fleet(host),
                "instance_id": instance.id,
                "slot": instance.slot,
                "digest": instance.digest,
                "bundle": remote,
                "command": app.start,
                "host": host.address,
            }
            request = {"op": "start", "fleet": self.fleet(host), "launch": launch}
            answer = self.ssh.hostside(host, request)
        except HostUnreachable as exc:
            if self.ssh.spec.on_host_failure == "fence":
                raise HostLost(str(exc)) from None
            raise StartFailed(str(exc)) from None
        if "error" in answer:
            raise StartFailed(f"on {host_name(host)}: {answer['error']}")
        return Placed(f"{host_name(host)}#{answer['ref']}", str(answer["address"]))

    def observe(self, looks: Sequence[Look]) -> list[Observed]:
        """One round trip per host, the hosts side by side; an unreachable host's instances
        are seen as not running."""
        seen: dict[int, Observed] = {}
        by_host: dict[str, list[tuple[int, Look, int]]] = {}
        for index, look in enumerate(looks):
            located = self._located(look.instance)
            if located is None:
                seen[index] = Observed(False, None, False)
            else:
                by_host.setdefault(host_name(located[0]), []).append((index, look, located[1]))

        def ask(name: str) -> None:
            items = by_host[name]
            request = [
                {"pgid": pgid, "instance_id": k.instance.id, "address": k.instance.address,
                 "readiness": k.app.readiness, "probe": k.probe}
                for _, k, pgid in items
            ]  # fmt: skip
            host = self.by_name[name]
            try:
                answer = self.ssh.hostside(
                    host, {"op": "observe", "fleet": self.fleet(host), "looks": request}, 15
                )["seen"]
            except HostUnreachable:
                for index, _, _ in items:
                    seen[index] = Observed(False, None, False, reachable=False)
                return
            for (index, _, _), found in zip(items, answer, strict=True):
                seen[index] = Observed(bool(found["alive"]), found["digest"], bool(found["ready"]))

        with ThreadPoolExecutor(self.ssh.spec.max_parallel_hosts) as pool:
            list(pool.map(ask, by_host))
        return [seen[index] for index in range(len(looks))]

    def release_changes(self, instances: Sequence[Instance]) -> list[list[str] | None]:
        """One round trip per host; an unreachable host's instances: None (unknown)."""
        found: list[list[str] | None] = [None] * len(instances)
        by_host: dict[str, list[int]] = {}
        for index, instance in enumerate(instances):
            if self._located(instance) is not None:
                by_host.setdefault(host_name(self.host_for(instance.slot)), []).append(index)

        def ask(name: str) -> None:
            host, indexes = self.by_name[name], by_host[name]
            items = [{"slot": instances[i].slot, "digest": instances[i].digest} for i in indexes]
            request = {"op": "release_changes", "fleet": self.fleet(host), "items": items}
            try:
                answer = self.ssh.hostside(host, request, 30)["changes"]
            except HostUnreachable:
                return
            for index, changes in zip(indexes, answer, strict=True):
                found[index] = changes

        with ThreadPoolExecutor(self.ssh.spec.max_parallel_hosts) as pool:
            list(pool.map(ask, by_host))
        return found

    def condemn(self, instance: Instance) -> None:
        host = self.host_for(instance.slot)
        request = {"op": "condemn", "fleet": self.fleet(host), "slot": instance.slot,
                   "digest": instance.digest}  # fmt: skip
        with contextlib.suppress(HostUnreachable):
            self.ssh.hostside(host, request, 15)

    def _on(self, instance: Instance, request: dict[str, object]) -> None:
        located = self._located(instance)
        if located is None:
            return
        host, pgid = located
        fleet = self.fleet(host)
        try:
            self.ssh.hostside(
                host, {**request, "fleet": fleet, "ref": pgid, "instance_id": instance.id}, 15
            )
        except HostUnreachable:
            return  # its instances are out of rotation; the host converges when it is back

    def signal_stop(self, instance: Instance, app: AppManifest) -> None:
        self._on(instance, {"op": "stop", "signal": app.signal_number})

    def kill(self, instance: Instance) -> None:
        self._on(instance, {"op": "kill"})

    def sweep(self, keep: set[str]) -> list[str]:
        stopped: list[str] = []
        for host in self.ssh.all:
            try:
                answer = self.ssh.hostside(
                    host, {"op": "sweep", "fleet": self.fleet(host), "keep": sorted(keep)}
                )
            except HostUnreachable:
                continue
            stopped += answer["stopped"]
        return stopped

    def log_of(self, instance: Instance) -> str:
        host = self.host_for(instance.slot)
        return f"{host_name(host)}:{self.fleet(host)}/instances/{instance.slot}/{instance.id}.log"

    def placement(self, slot: int) -> str:
        return host_name(self.host_for(slot))

    def hosts(self) -> list[HostSeen]:
        asked = set(self.ssh.last_seen) | set(self.ssh.lost)
        return [
            HostSeen(name, name not in self.ssh.lost, self.ssh.last_seen.get(name))
            for name in self.by_name
            if name in asked
        ]
