"""Confidence bounds on how much worse the canary is than the baseline (its excess).

Each function returns (lower, upper) bounds that each hold with probability `confidence`, for
the canary's statistic minus the baseline's (or that difference as a fraction of the baseline
when `relative`). The judge passes a canary only when `upper` is within the tolerance, so
every bound here errs wide, never narrow:

- rates (every sample 0 or 1): Newcombe's hybrid score interval for a difference of
  proportions, built from each side's Wilson interval, which stays honest at 0 failures (a
  normal approximation would claim 0 +- 0 and pass on no evidence);
- means: Welch's t interval for a difference of means;
- percentiles: distribution-free order-statistic bounds on each side's percentile
  (the binomial count of samples below it), combined by Bonferroni.

A relative excess with a baseline of 0 has no meaning: bounds are then infinite.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

Bounds = tuple[float, float]
UNBOUNDED: Bounds = (-math.inf, math.inf)


def excess_bounds(
    canary: Sequence[float],
    baseline: Sequence[float],
    *,
    statistic: str,
    relative: bool,
    confidence: float,
) -> Bounds:
    if statistic != "mean":
        return _percentile_bounds(
            canary, baseline, float(statistic.removeprefix("p")) / 100, relative, confidence
        )
    if _binary(canary) and _binary(baseline):
        difference = _rate_difference(canary, baseline, confidence)
    else:
        difference = _mean_difference(canary, baseline, confidence)
    return _scaled(difference, statistics.fmean(baseline), relative)


def _binary(values: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def _z(confidence: float) -> float:
    return statistics.NormalDist().inv_cdf(confidence)


def wilson(successes: float, n: int, confidence: float) -> Bounds:
    """One-sided Wilson score bounds for a proportion, each holding with `confidence`."""
    z = _z(confidence)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def _rate_difference(
    canary: Sequence[float], baseline: Sequence[float], confidence: float
) -> Bounds:
    p1, p2 = statistics.fmean(canary), statistics.fmean(baseline)
    l1, u1 = wilson(sum(canary), len(canary), confidence)
    l2, u2 = wilson(sum(baseline), len(baseline), confidence)
    difference = p1 - p2
    return (
        difference - math.hypot(p1 - l1, u2 - p2),
        difference + math.hypot(u1 - p1, p2 - l2),
    )


def _mean_difference(
    canary: Sequence[float], baseline: Sequence[float], confidence: float
) -> Bounds:
    from scipy.stats import t  # scipy loads slowly; only an analysis needs it

    n1, n2 = len(canary), len(baseline)
    v1, v2 = statistics.variance(canary) / n1, statistics.variance(baseline) / n2
    difference = statistics.fmean(canary) - statistics.fmean(baseline)
    if v1 + v2 == 0:  # both sides constant: the difference is exact
        return difference, difference
    freedom = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    margin = float(t.ppf(confidence, freedom)) * math.sqrt(v1 + v2)
    return difference - margin, difference + margin


def percentile_bounds(values: Sequence[float], quantile: float, confidence: float) -> Bounds:
    """Order statistics that bound the `quantile` from below and above, each with
    `confidence`: the number of samples under the true quantile is Binomial(n, quantile)."""
    from scipy.stats import binom

    ordered = sorted(values)
    n = len(ordered)
    low = int(binom.ppf(1 - confidence, n, quantile))  # 1-based rank, so index low - 1
    high = int(binom.ppf(confidence, n, quantile))  # 0-based index of rank high + 1
    return (
        ordered[low - 1] if low >= 1 else -math.inf,
        ordered[high] if high < n else math.inf,
    )


def _percentile_bounds(
    canary: Sequence[float],
    baseline: Sequence[float],
    quantile: float,
    relative: bool,
    confidence: float,
) -> Bounds:
    each = 1 - (1 - confidence) / 2  # Bonferroni: both sides' bounds hold together
    c_low, c_high = percentile_bounds(canary, quantile, each)
    b_low, b_high = percentile_bounds(baseline, quantile, each)
    if not relative:
        return c_low - b_high, c_high - b_low
    lower = c_low / b_high - 1 if b_high > 0 and math.isfinite(b_high) else -math.inf
    upper = c_high / b_low - 1 if b_low > 0 else math.inf
    return lower, upper


def _scaled(difference: Bounds, baseline: float, relative: bool) -> Bounds:
    if not relative:
        return difference
    if baseline <= 0:
        return UNBOUNDED
    return difference[0] / baseline, difference[1] / baseline
