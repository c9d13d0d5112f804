"""What SDKs saw of their requests, by the side of a flag each request was on: the built-in
metrics (error-rate, latency) of a guarded rollout, as the router's samples are a canary's.

An SDK sends batches of observations (`POST /api/client/observations`); each says the flag, the
side (`off`, `on`, or the variant's name), whether the request failed, its latency, and how
long ago it happened, so the server's clock dates it and client clocks never matter."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ..deploy.analysis.providers import BUILT_IN, ProviderError
from ..deploy.envfile import MetricSpec
from ..store.flagrollouts import Observation, RolloutRecords

MAX_BATCH = 5000  # observations one request may carry
MAX_AGE = 600.0  # seconds: older observations tell nothing about the current step
Side = Annotated[str, Field(min_length=1, max_length=255)]


class Observed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flag: Annotated[str, Field(min_length=1, max_length=255)]
    side: Side
    failed: bool = False
    latency: Annotated[float, Field(ge=0, le=3600)] | None = None
    age: Annotated[float, Field(ge=0)] = 0.0  # seconds before the batch was sent


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    observations: Annotated[list[Observed], Field(max_length=MAX_BATCH)]


def dated(batch: Batch, now: float) -> dict[str, list[Observation]]:
    """Per flag, the batch's observations on the server's clock (too old ones dropped)."""
    found: dict[str, list[Observation]] = {}
    for seen in batch.observations:
        if seen.age <= MAX_AGE:
            found.setdefault(seen.flag, []).append(
                Observation(seen.side, now - seen.age, seen.latency, seen.failed)
            )
    return found


class ObservationProvider:
    """The built-in metrics of one flag in one environment, per side (a MetricProvider)."""

    fewest = None

    def __init__(self, records: RolloutRecords, flag: str, environment: str) -> None:
        self.records, self.flag, self.environment = records, flag, environment

    def series(self, metric: MetricSpec, pool: str, since: float, until: float) -> list[float]:
        if metric.name not in BUILT_IN:
            raise ProviderError(
                f"{metric.name!r} is not a built-in metric (error-rate, latency); give a `query`"
            )
        seen = self.records.observations(self.flag, self.environment, pool.split("|"), since, until)
        if metric.name == "latency":
            return [o.latency for o in seen if o.latency is not None]
        return [1.0 if o.failed else 0.0 for o in seen]

    def value(self, metric: MetricSpec, pool: str, at: float) -> float | None:
        raise ProviderError(
            f"{metric.name}: success and failure conditions need a `query` (Prometheus)"
        )
