"""Routers in front of a fleet: one module per kind, each a traffic.base.Router, chosen here."""

from __future__ import annotations

from pathlib import Path

from .base import Router
from .builtin import BuiltinRouter
from .haproxy import HAProxyRouter


def router_for(kind: str, directory: Path, port: int) -> Router:
    """The router an environment file names (`router: type:`), its files in `directory`."""
    routers: dict[str, type[BuiltinRouter] | type[HAProxyRouter]] = {
        "builtin": BuiltinRouter,
        "haproxy": HAProxyRouter,
    }
    return routers[kind](directory, port)
