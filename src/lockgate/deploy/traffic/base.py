"""What a router is to the controller: one call that replaces the whole routing table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Route:
    id: str  # the instance id
    address: str  # host:port of the instance
    weight: int  # 0: out of rotation (kept, gets no new requests)
    pool: str  # e.g. stable / canary, blue / green: counters are kept per pool


class Router(Protocol):
    @property
    def address(self) -> str:
        """host:port where clients send requests."""
        ...

    def ensure(self) -> None:
        """Start the router if it is not running (it keeps its last table)."""

    def apply(self, routes: list[Route]) -> None:
        """Replace the routing table in one step: no request sees half of a change."""

    def table(self) -> list[dict[str, Any]]:
        """Routes as the router itself reports them: id, address, weight, pool, requests."""
        ...

    def stats(self, since: float | None = None) -> dict[str, Any]:
        """Per-pool counters (and samples after `since`)."""
        ...

    def stop(self) -> None: ...
