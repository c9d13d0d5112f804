"""Where measurements come from: one MetricProvider per source, chosen by `provider_for`.
A provider error or missing data is inconclusive, never a pass.

- RouterProvider: the built-in metrics (error-rate, latency) from the built-in router's
  per-pool request samples (no set-up): each request's latency and whether it failed (5xx, or
  no backend could answer). A flag's guarded rollout has its own built-in provider: what its
  SDKs observed (lockgate.flags.observations).
- PrometheusProvider: a metric's PromQL `query` over Prometheus' HTTP API; `$POOL` in it is
  replaced by the pool (canary or baseline), so the same query measures both sides.

A `pool` may name several joined by `|` (a wave's regions): the router merges their samples,
and in PromQL it reads as a regular expression (`region=~"$POOL"`).
"""

from __future__ import annotations

import json
import math
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol

from ...common.httpcheck import Unreachable, request
from ..envfile import AnalysisSpec, MetricSpec
from ..traffic.base import Router

BUILT_IN = {"error-rate": "failures", "latency": "latencies"}  # metric -> Samples field


class ProviderError(Exception):
    pass


class MetricProvider(Protocol):
    @property
    def fewest(self) -> int | None:
        """Points per side a comparison needs (None: the analysis' min-samples)."""
        ...

    def series(self, metric: MetricSpec, pool: str, since: float, until: float) -> list[float]:
        """The metric's values for one pool over the window."""
        ...

    def value(self, metric: MetricSpec, pool: str, at: float) -> float | None:
        """The metric's value for one pool now (for success / failure conditions)."""
        ...


def provider_for(
    metric: MetricSpec, analysis: AnalysisSpec, built_in: MetricProvider
) -> MetricProvider:
    """Built-in metrics come from `built_in` (a canary's router, a flag's observations); a
    `query` from the analysis' provider."""
    if metric.query is None:
        return built_in
    providers = {"prometheus": lambda: PrometheusProvider(analysis.prometheus)}
    return providers[analysis.provider]()


@dataclass
class Samples:
    latencies: list[float]  # seconds, one per request
    failures: list[float]  # 1.0 for a failed request, 0.0 for a good one


class RouterProvider:
    fewest = None

    def __init__(self, router: Router) -> None:
        self.router = router

    def series(self, metric: MetricSpec, pool: str, since: float, until: float) -> list[float]:
        if metric.name not in BUILT_IN:
            raise ProviderError(
                f"{metric.name!r} is not a built-in metric (error-rate, latency); give a `query`"
            )
        return list(getattr(self.samples(pool, since, until), BUILT_IN[metric.name]))

    def value(self, metric: MetricSpec, pool: str, at: float) -> float | None:
        raise ProviderError(
            f"{metric.name}: success and failure conditions need a `query` (Prometheus)"
        )

    def samples(self, pool: str, since: float, until: float) -> Samples:
        try:
            stats = self.router.stats(since=since)
        except (Unreachable, OSError) as exc:
            raise ProviderError(f"router statistics unavailable: {exc}") from None
        pools = stats.get("pools", {})
        rows = [r for p in pool.split("|") for r in pools.get(p, {}).get("samples") or []]
        if any(p in pools and "samples" not in pools[p] for p in pool.split("|")):
            raise ProviderError("this router keeps no per-request samples (use the built-in one)")
        chosen = [r for r in rows if since <= r[0] <= until]
        return Samples([float(r[1]) for r in chosen], [1.0 if r[2] else 0.0 for r in chosen])


class PrometheusProvider:
    fewest = 3  # points of a range query, not requests

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

    def series(self, metric: MetricSpec, pool: str, since: float, until: float) -> list[float]:
        """The query's values over the window (one series, or the sum of several), at about
        30 points."""
        assert metric.query is not None
        data = self._query(
            "/api/v1/query_range",
            {
                "query": metric.query.replace("$POOL", pool),
                "start": f"{since:.3f}",
                "end": f"{until:.3f}",
                "step": f"{max(1.0, (until - since) / 30):.3f}",
            },
        )
        totals: dict[float, float] = {}
        for series in data.get("result", []):
            for stamp, value in series.get("values", []):
                number = float(value)
                if not math.isnan(number):
                    totals[float(stamp)] = totals.get(float(stamp), 0.0) + number
        return [totals[t] for t in sorted(totals)]

    def value(self, metric: MetricSpec, pool: str, at: float) -> float | None:
        assert metric.query is not None
        data = self._query(
            "/api/v1/query", {"query": metric.query.replace("$POOL", pool), "time": f"{at:.3f}"}
        )
        values = [float(r["value"][1]) for r in data.get("result", [])]
        values = [v for v in values if not math.isnan(v)]
        return sum(values) if values else None
