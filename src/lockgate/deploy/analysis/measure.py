"""One measurement: collect both sides' samples over a window, judge them, store everything."""

from __future__ import annotations

import time
from typing import Any

from ...store.deployments import DeploymentRecords
from ..envfile import AnalysisSpec, MetricSpec
from ..traffic.base import Router
from .judge import INCONCLUSIVE, Judgement, MetricResult, compare, score, threshold
from .providers import MetricProvider, ProviderError, RouterProvider, provider_for


def measure(
    router: Router,
    records: DeploymentRecords,
    deployment: int,
    spec: AnalysisSpec,
    step: str,
    number: int,
    since: float,
    sides: tuple[str, str] = ("canary", "baseline"),
) -> Judgement:
    """Judge canary against baseline on everything measured since `since`; store the samples,
    statistics and verdict; return the judgement. `sides` names the router pools of each side
    (several joined by `|`: a wave's regions against the others)."""
    until = time.time()
    results, kept = compare_sides(spec, RouterProvider(router), since, until, sides)
    judgement = score(results, float(spec.pass_score), float(spec.marginal_score))
    records.add_analysis(
        deployment_id=deployment,
        step=step,
        measurement=number,
        started_at=since,
        finished_at=until,
        verdict=judgement.verdict,
        score=judgement.score,
        reason=judgement.reason,
        metrics=[vars(r) for r in results],
        samples=kept,
    )
    return judgement


def compare_sides(
    spec: AnalysisSpec,
    built_in: MetricProvider,
    since: float,
    until: float,
    sides: tuple[str, str],
) -> tuple[list[MetricResult], dict[str, Any]]:
    """Each metric of `spec` judged for sides[0] against sides[1] over the window, and the
    samples compared (per metric: {"canary": [...], "baseline": [...]})."""
    results: list[MetricResult] = []
    kept: dict[str, Any] = {}
    for metric in spec.metrics:
        try:
            result, samples = _one(built_in, spec, metric, since, until, sides)
        except ProviderError as exc:
            result, samples = MetricResult(metric.name, INCONCLUSIVE, f"no data: {exc}"), {}
        results.append(result)
        kept[metric.name] = samples
    return results, kept


def _one(
    built_in: MetricProvider,
    spec: AnalysisSpec,
    metric: MetricSpec,
    since: float,
    until: float,
    sides: tuple[str, str],
) -> tuple[MetricResult, dict[str, list[float]]]:
    relative = metric.relative if metric.relative is not None else metric.name == "latency"
    provider = provider_for(metric, spec, built_in)
    if metric.success or metric.failure:
        value = provider.value(metric, sides[0], until)
        result = threshold(metric.name, value, metric.success, metric.failure)
        return result, {"canary": [] if value is None else [value]}
    canary = provider.series(metric, sides[0], since, until)
    baseline = provider.series(metric, sides[1], since, until)
    result = compare(
        metric.name,
        canary,
        baseline,
        statistic=metric.statistic,
        tolerance=float(metric.tolerance),
        relative=relative,
        confidence=spec.confidence,
        min_samples=provider.fewest or spec.min_samples,
    )
    return result, {"canary": list(canary), "baseline": list(baseline)}
