"""The confidence bounds hold at least as often as they claim (coverage by simulation, seeded),
and stay honest where a normal approximation is not: no failures seen, constant samples."""

from __future__ import annotations

import math
import random

import pytest

from lockgate.deploy.analysis.bounds import excess_bounds, percentile_bounds, wilson


def test_wilson_at_zero_failures_still_allows_some() -> None:
    low, high = wilson(0, 100, 0.99)
    z = 2.3263478740408408
    assert low == 0.0 and high == pytest.approx(z * z / (100 + z * z))


@pytest.mark.parametrize(
    ("canary_rate", "baseline_rate", "n"), [(0.01, 0.01, 100), (0.05, 0.01, 300), (0.0, 0.0, 60)]
)
def test_the_rate_difference_bounds_cover_the_truth(
    canary_rate: float, baseline_rate: float, n: int
) -> None:
    rng, truth, misses = random.Random(11), canary_rate - baseline_rate, [0, 0]
    for _ in range(400):
        canary = [1.0 if rng.random() < canary_rate else 0.0 for _ in range(n)]
        baseline = [1.0 if rng.random() < baseline_rate else 0.0 for _ in range(n)]
        low, high = excess_bounds(
            canary, baseline, statistic="mean", relative=False, confidence=0.95
        )
        misses[0] += low > truth
        misses[1] += high < truth
    assert max(misses) <= 0.05 * 400 + 8  # each side misses about 5% at most


def test_the_percentile_bounds_cover_the_true_percentile() -> None:
    rng = random.Random(5)
    truth = math.exp(0.5 * 1.6448536269514722)  # p95 of lognormal(0, 0.5)
    misses = [0, 0]
    for _ in range(400):
        values = [rng.lognormvariate(0, 0.5) for _ in range(200)]
        low, high = percentile_bounds(values, 0.95, 0.95)
        misses[0] += low > truth
        misses[1] += high < truth
    assert max(misses) <= 0.05 * 400 + 8


def test_a_percentile_with_too_few_samples_is_unbounded_above() -> None:
    assert percentile_bounds([1.0] * 20, 0.99, 0.99)[1] == math.inf


def test_means_of_other_values_use_welch_and_constant_sides_are_exact() -> None:
    rng = random.Random(3)
    canary = [rng.gauss(10, 2) for _ in range(100)]
    baseline = [rng.gauss(10, 2) for _ in range(100)]
    low, high = excess_bounds(canary, baseline, statistic="mean", relative=False, confidence=0.99)
    assert low < 0 < high and high - low < 2
    assert excess_bounds(
        [3.0] * 60, [2.0] * 60, statistic="mean", relative=False, confidence=0.99
    ) == (1.0, 1.0)


def test_a_relative_excess_over_a_zero_baseline_is_unbounded() -> None:
    bounds = excess_bounds(
        [0.0, 2.0] * 30, [0.0] * 60, statistic="mean", relative=True, confidence=0.99
    )
    assert bounds == (-math.inf, math.inf)
