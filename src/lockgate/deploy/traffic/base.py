"""What a router is to the reconciler: one call that replaces the whole routing table, and a
read of the table as the router itself holds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Route:
    id: str  # the instance id
    address: str  # host:port of the instance
    weight: int  # 0: out of rotation (kept, gets no new requests)
    pool: str  # e.g. stable / canary, blue / green: counters are kept per pool


@dataclass(frozen=True)
class RouteState:
    """A route as the router reports it, with the requests it has sent there."""

    id: str
    address: str
    weight: int
    pool: str
    requests: int


class Router(Protocol):
    @property
    def address(self) -> str:
        """host:port where clients send requests."""
        ...

    def alive(self) -> bool:
        """Whether it runs and answers its control channel."""
        ...

    def ensure(self) -> None:
        """Start the router if it is not running; a restarted router gets its last table back."""

    def apply(self, routes: list[Route]) -> None:
        """Replace the routing table in one step: no request sees half of a change."""

    def table(self) -> list[RouteState]:
        """Routes as the router itself reports them."""
        ...

    def stats(self, since: float | None = None) -> dict[str, Any]:
        """Per-pool counters (and samples after `since`)."""
        ...

    def stop(self) -> None: ...
