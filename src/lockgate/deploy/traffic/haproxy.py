"""HAProxy as the router, driven live through its runtime API (no reloads).

lockgate writes a configuration with a pool of placeholder servers once, starts haproxy, and
from then on only sends runtime commands over the admin socket: `set server ... addr/weight/
state`. Which placeholder holds which instance is kept in slots.json beside the config.
Connection failures, and kept-alive connections a server dropped, are retried
(`retries`, `retry-on`, `option redispatch`), so an instance that stops costs no request.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socket
from pathlib import Path
from typing import Any

from ...common.errors import UserError
from ...common.runtime import socket_for
from . import spawn
from .base import Route, RouteState

BACKEND = "lockgate"
SERVERS = 64


class HAProxyRouter:
    def __init__(self, directory: Path, port: int, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.port = port
        self.host = host
        self.socket_path = Path(socket_for("haproxy", str(directory.resolve())))
        self.state_path = directory / "haproxy-state.json"
        self.table_path = directory / "haproxy-table.json"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self, text: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.socket_path))
            conn.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def alive(self) -> bool:
        try:
            return "pxname" in self.command("show stat")
        except OSError:
            return False

    def ensure(self) -> None:
        if self.alive():
            return
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise UserError(
                "router type haproxy needs the haproxy binary",
                hint="install it (apt-get install haproxy) or use `router: type: builtin`",
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "haproxy.cfg"
        config.write_text(
            f"""global
    stats socket {self.socket_path} mode 600 level admin
    pidfile {self.directory / "haproxy.pid"}
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    # a kept-alive connection the server dropped meanwhile: send the request again (a request
    # with a body too: it is buffered whole first, so it can be replayed)
    retry-on conn-failure empty-response
    option http-buffer-request
    option redispatch 1
frontend lockgate_in
    bind {self.host}:{self.port}
    default_backend {BACKEND}
backend {BACKEND}
    balance roundrobin
    server-template s 1-{SERVERS} 127.0.0.1:1 disabled
"""
        )
        log = self.directory / "haproxy.log"
        process = spawn.start([binary, "-f", str(config), "-db"], log)
        spawn.wait_until_serving(
            process,
            self.alive,
            log,
            lambda tail: UserError(f"haproxy could not start: {tail}", where=str(config)),
        )
        (self.directory / "haproxy.json").write_text(json.dumps({"pid": process.pid}))
        self.state_path.unlink(missing_ok=True)  # a fresh haproxy: counters start at 0
        if self.table_path.exists():  # and it gets its last table back
            self.apply([Route(**r) for r in json.loads(self.table_path.read_text())])

    def _state(self) -> dict[str, Any]:
        """slots: instance id -> placeholder server; pools: instance id -> pool; base: the
        server's counters when it got its instance; totals: counts of instances now gone."""
        try:
            return dict(json.loads(self.state_path.read_text()))
        except (OSError, ValueError):
            return {"slots": {}, "pools": {}, "base": {}, "totals": {}}

    def _counters(self) -> dict[str, tuple[int, int]]:
        text = self.command("show stat").lstrip("# ")
        rows = [r for r in csv.DictReader(io.StringIO(text)) if r.get("pxname") == BACKEND]
        return {r["svname"]: (int(r.get("stot") or 0), int(r.get("hrsp_5xx") or 0)) for r in rows}

    def apply(self, routes: list[Route]) -> None:
        """New servers first, then weights, then removals: never an empty backend."""
        state, counters = self._state(), self._counters()
        slots, pools, base, totals = state["slots"], state["pools"], state["base"], state["totals"]
        wanted = {r.id for r in routes}
        free = [f"s{i}" for i in range(1, SERVERS + 1) if f"s{i}" not in slots.values()]
        commands = []
        for route in routes:
            host, _, port = route.address.rpartition(":")
            if route.id not in slots:
                if not free:
                    raise UserError(f"haproxy router: more than {SERVERS} instances")
                server = slots[route.id] = free.pop(0)
                base[server] = counters.get(server, (0, 0))
                commands.append(f"set server {BACKEND}/{server} addr {host} port {port}")
            pools[route.id] = route.pool
            server = f"{BACKEND}/{slots[route.id]}"
            commands.append(f"set server {server} weight {route.weight}")
            commands.append(f"set server {server} state {'ready' if route.weight else 'drain'}")
        for instance_id in [i for i in slots if i not in wanted]:
            server = slots.pop(instance_id)
            now, then = counters.get(server, (0, 0)), base.get(server, (0, 0))
            total = totals.setdefault(pools.pop(instance_id, "default"), [0, 0])
            total[0] += now[0] - then[0]
            total[1] += now[1] - then[1]
            commands.append(f"set server {BACKEND}/{server} state maint")
        for start in range(0, len(commands), 50):
            answer = self.command(";".join(commands[start : start + 50]))
            if "No such" in answer or "Require" in answer:
                raise UserError(f"haproxy refused a runtime command: {answer.strip()}")
        self.state_path.write_text(json.dumps(state))
        self.table_path.write_text(json.dumps([r.__dict__ for r in routes]))

    def table(self) -> list[RouteState]:
        state, counters = self._state(), self._counters()
        kept = self.table_path.read_text() if self.table_path.exists() else "[]"
        routes = {r["id"]: r for r in json.loads(kept)}
        table = []
        for instance_id, server in state["slots"].items():
            now, then = counters.get(server, (0, 0)), state["base"].get(server, (0, 0))
            route = routes.get(instance_id, {})
            table.append(
                RouteState(
                    instance_id,
                    route.get("address", ""),
                    route.get("weight", 0),
                    state["pools"].get(instance_id, "default"),
                    now[0] - then[0],
                )
            )
        return table

    def stats(self, since: float | None = None) -> dict[str, Any]:
        state, counters = self._state(), self._counters()
        pools: dict[str, dict[str, Any]] = {
            pool: {"requests": r, "errors": e} for pool, (r, e) in state["totals"].items()
        }
        for instance_id, server in state["slots"].items():
            now, then = counters.get(server, (0, 0)), state["base"].get(server, (0, 0))
            pool = pools.setdefault(state["pools"][instance_id], {"requests": 0, "errors": 0})
            pool["requests"] += now[0] - then[0]
            pool["errors"] += now[1] - then[1]
        return {"backends": [vars(r) for r in self.table()], "pools": pools, "unrouted": 0}

    def stop(self) -> None:
        info = self.directory / "haproxy.json"
        with contextlib.suppress(OSError, ValueError, KeyError):
            os.killpg(int(json.loads(info.read_text())["pid"]), signal.SIGTERM)
        info.unlink(missing_ok=True)
