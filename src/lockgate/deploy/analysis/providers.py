"""Where measurements come from. A provider error or missing data is inconclusive, never a pass.

- RouterProvider: the built-in router's per-pool request samples (no set-up): each request's
  latency and whether it failed (5xx, or no backend could answer).
- PrometheusProvider: PromQL over Prometheus' HTTP API; `$POOL` in a query is replaced by the
  pool (canary or baseline), so the same query measures both sides.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ..httpcheck import Unreachable, request
from ..traffic.base import Router


class ProviderError(Exception):
    pass


@dataclass
class Samples:
    latencies: list[float]  # seconds, one per request
    failures: list[float]  # 1.0 for a failed request, 0.0 for a good one


class RouterProvider:
    def __init__(self, router: Router) -> None:
        self.router = router

    def samples(self, pool: str, since: float, until: float) -> Samples:
        try:
            stats = self.router.stats(since=since)
        except (Unreachable, OSError) as exc:
            raise ProviderError(f"router statistics unavailable: {exc}") from None
        rows = stats.get("pools", {}).get(pool, {}).get("samples")
        if rows is None and "pools" in stats and pool in stats["pools"]:
            raise ProviderError("this router keeps no per-request samples (use the built-in one)")
        chosen = [r for r in rows or [] if since <= r[0] <= until]
        return Samples([float(r[1]) for r in chosen], [1.0 if r[2] else 0.0 for r in chosen])


class PrometheusProvider:
    def __init__(self, address: str) -> None:
        parsed = urllib.parse.urlsplit(address if "://" in address else f"http://{address}")
        self.address = parsed.netloc
        self.prefix = parsed.path.rstrip("/")

    def _query(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.prefix}{path}?{urllib.parse.urlencode(params)}"
        try:
            status, body = request(self.address, "GET", url, timeout=5)
            payload = json.loads(body)
        except (Unreachable, ValueError) as exc:
            raise ProviderError(f"prometheus at {self.address}: {exc}") from None
        if status != 200 or payload.get("status") != "success":
            raise ProviderError(f"prometheus answered {status}: {payload.get('error', body[:200])}")
        return payload["data"]

    def series(self, query: str, pool: str, since: float, until: float, step: float) -> list[float]:
        """The query's values over the window (one series, or the sum of several)."""
        data = self._query(
            "/api/v1/query_range",
            {
                "query": query.replace("$POOL", pool),
                "start": f"{since:.3f}",
                "end": f"{until:.3f}",
                "step": f"{max(step, 1.0):.3f}",
            },
        )
        totals: dict[float, float] = {}
        for series in data.get("result", []):
            for stamp, value in series.get("values", []):
                number = float(value)
                if not math.isnan(number):
                    totals[float(stamp)] = totals.get(float(stamp), 0.0) + number
        return [totals[t] for t in sorted(totals)]

    def value(self, query: str, pool: str, at: float) -> float | None:
        data = self._query(
            "/api/v1/query", {"query": query.replace("$POOL", pool), "time": f"{at:.3f}"}
        )
        values = [float(r["value"][1]) for r in data.get("result", [])]
        values = [v for v in values if not math.isnan(v)]
        return sum(values) if values else None
