"""The built-in router (proxy.py) as a process lockgate starts once per environment and then
drives over its admin port; it outlives the command that started it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ...common.errors import UserError
from ...common.httpcheck import Unreachable, request, status_of
from ...common.ports import free_port
from . import spawn
from .base import Route, RouteState


class BuiltinRouter:
    def __init__(
        self, directory: Path, port: int, host: str = "127.0.0.1", fallback: bool = False
    ) -> None:
        self.directory = directory
        self.port = port
        self.host = host
        self.fallback = fallback  # proxy.Router.fallback: for a global router only
        self.info_path = directory / "router.json"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _info(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = request(f"127.0.0.1:{self._info().get('admin')}", method, path, body, 5)
        if status != 200:
            raise Unreachable(f"router admin {method} {path}: HTTP {status} {answer[:200]!r}")
        return json.loads(answer)

    def alive(self) -> bool:
        info = self._info()
        if not info.get("pid") or info.get("port") != self.port:
            return False
        return status_of(f"127.0.0.1:{info.get('admin')}", "/backends") == 200

    def ensure(self) -> None:
        if self.alive():
            return
        self.stop()
        self.directory.mkdir(parents=True, exist_ok=True)
        admin = free_port()
        log = self.directory / "router.log"
        argv = [
            sys.executable, "-m", "lockgate.deploy.traffic.proxy",
            "--listen", str(self.port), "--admin", str(admin),
            "--state", str(self.directory / "router-state.json"), "--host", self.host,
            *(["--fallback"] if self.fallback else []),
        ]  # fmt: skip
        process = spawn.start(argv, log, cwd="/")
        self.info_path.write_text(
            json.dumps({"pid": process.pid, "admin": admin, "port": self.port})
        )
        spawn.wait_until_serving(
            process,
            self.alive,
            log,
            lambda tail: UserError(
                f"the router could not start on port {self.port}: {tail}",
                where=str(log),
                hint="is the port taken? set another `router: port:` in the environment file",
            ),
        )

    def apply(self, routes: list[Route]) -> None:
        body = [
            {"id": r.id, "address": r.address, "weight": r.weight, "pool": r.pool} for r in routes
        ]
        self._admin("PUT", "/backends", body)

    def table(self) -> list[RouteState]:
        return [RouteState(**row) for row in self._admin("GET", "/backends")]

    def stats(self, since: float | None = None) -> dict[str, Any]:
        query = f"?since={since}" if since is not None else ""
        return dict(self._admin("GET", f"/stats{query}"))

    def stop(self) -> None:
        pid = self._info().get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pid), signal.SIGTERM)
        self.info_path.unlink(missing_ok=True)
