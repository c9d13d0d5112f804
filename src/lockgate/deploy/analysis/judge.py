"""The judge: is the canary shown to be no worse than the baseline, beyond a tolerance?

Per metric:
- fail when a one-sided Mann-Whitney U test (scipy) shows the canary worse with confidence
  and its measured excess is beyond the tolerance (only worse fails: a faster canary is fine);
- pass only when the upper confidence bound of the canary's excess (`bounds.py`) is within
  the tolerance: the data show it is no worse than allowed (non-inferiority). A canary merely
  not proven worse is not passed: the analysis keeps measuring and ends inconclusive;
- otherwise inconclusive.
Absolute thresholds (Argo-style success/failure conditions) apply where given. Too few samples
on either side is inconclusive. The metrics' verdicts make a score, as in Kayenta.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ...common.stats import percentile
from ...workflow.expressions import evaluate, truthy
from .bounds import excess_bounds

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass
class MetricResult:
    name: str
    verdict: str
    reason: str  # in words: why
    canary: dict[str, float] = field(default_factory=dict)  # n and summary of each side
    baseline: dict[str, float] = field(default_factory=dict)
    statistic: float | None = None  # Mann-Whitney U
    p_value: float | None = None
    effect: float | None = None  # the measured excess (relative: a fraction of the baseline)
    lower: float | None = None  # confidence bounds on the excess
    upper: float | None = None


@dataclass
class Judgement:
    verdict: str
    score: float
    reason: str
    metrics: list[MetricResult]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summary(values: Sequence[float], statistic: str) -> float:
    if statistic == "mean":
        return statistics.fmean(values)
    return percentile(values, float(statistic.removeprefix("p")))


def compare(
    name: str,
    canary: Sequence[float],
    baseline: Sequence[float],
    *,
    statistic: str,  # "mean" or "p95", "p99" ...
    tolerance: float,
    relative: bool,
    confidence: float,
    min_samples: int,
) -> MetricResult:
    """Pass when the canary's excess is within `tolerance` with `confidence`; fail when it is
    worse with confidence and by more than `tolerance`; else inconclusive."""
    sides = {"n": float(len(canary))}, {"n": float(len(baseline))}
    if len(canary) < min_samples or len(baseline) < min_samples:
        return MetricResult(
            name,
            INCONCLUSIVE,
            f"too few samples to judge (canary {len(canary)}, baseline {len(baseline)}; "
            f"{min_samples} needed on each side)",
            *sides,
        )
    c, b = summary(canary, statistic), summary(baseline, statistic)
    sides[0][statistic], sides[1][statistic] = c, b
    effect = (c - b) / b if relative and b > 0 else c - b
    u, p = _worse(canary, baseline)
    lower, upper = excess_bounds(
        canary, baseline, statistic=statistic, relative=relative, confidence=confidence
    )

    def shown(value: float) -> str:
        return f"{value:+.1%}" if relative and math.isfinite(value) else f"{value:+.4g}"

    where = (
        f"{statistic} canary {c:.4g} vs baseline {b:.4g} ({shown(effect)}; "
        f"{confidence:.0%} bounds {shown(lower)} .. {shown(upper)})"
    )
    allowed = f"the tolerance of {shown(tolerance)}"
    if p < 1 - confidence and effect > tolerance:
        verdict, reason = (
            FAIL,
            f"canary is worse: {where}; significant (p={p:.2g}), beyond {allowed}",
        )
    elif upper <= tolerance:
        verdict, reason = PASS, f"{where}: within {allowed}"
    else:
        verdict = INCONCLUSIVE
        reason = f"not yet shown within {allowed}: {where}; more samples narrow the bounds"
    result = MetricResult(name, verdict, reason, sides[0], sides[1], u, p, effect)
    result.lower, result.upper = _finite(lower), _finite(upper)
    return result


def _worse(canary: Sequence[float], baseline: Sequence[float]) -> tuple[float, float]:
    """Mann-Whitney U and the one-sided p-value that the canary's values run higher."""
    if len(set(canary) | set(baseline)) == 1:  # all equal: no difference to test
        return float(len(canary) * len(baseline)) / 2, 1.0
    # Imported here: scipy takes most of a second to load, and only canaries need it (not the
    # agent's start, nor status).
    from scipy.stats import mannwhitneyu

    test = mannwhitneyu(canary, baseline, alternative="greater")
    return float(test.statistic), float(test.pvalue)


def _finite(value: float) -> float | None:
    """None for an unbounded side, so the record stays valid JSON."""
    return value if math.isfinite(value) else None


def threshold(
    name: str, value: float | None, success: str | None, failure: str | None
) -> MetricResult:
    """Argo-style conditions on one value, written in lockgate's expression language
    (`result < 0.05`): `failure` true fails, `success` false fails."""
    if value is None or math.isnan(value):
        return MetricResult(name, INCONCLUSIVE, "the provider returned no value")
    shown = f"result {value:.4g}"
    if failure and truthy(evaluate(failure, {"result": value})):
        return MetricResult(name, FAIL, f"{shown} meets the failure condition `{failure}`")
    if success and not truthy(evaluate(success, {"result": value})):
        return MetricResult(name, FAIL, f"{shown} misses the success condition `{success}`")
    return MetricResult(name, PASS, f"{shown} meets its conditions")


def score(results: list[MetricResult], pass_score: float, marginal_score: float) -> Judgement:
    """Kayenta-style: the share of metrics that passed. Missing data never passes."""
    if not results:
        return Judgement(INCONCLUSIVE, 0.0, "no metrics to judge", [])
    passed = sum(1 for r in results if r.verdict == PASS)
    points = 100.0 * passed / len(results)
    failed = [r for r in results if r.verdict == FAIL]
    unknown = [r for r in results if r.verdict == INCONCLUSIVE]
    if unknown and not failed:
        words = "; ".join(f"{r.name}: {r.reason}" for r in unknown)
        return Judgement(INCONCLUSIVE, points, f"inconclusive: {words}", results)
    if points >= pass_score:
        return Judgement(PASS, points, f"score {points:.0f} >= {pass_score:g}: passed", results)
    words = "; ".join(f"{r.name}: {r.reason}" for r in failed + unknown)
    if points >= marginal_score:
        return Judgement(INCONCLUSIVE, points, f"marginal score {points:.0f}: {words}", results)
    return Judgement(FAIL, points, f"score {points:.0f} < {marginal_score:g}: {words}", results)
