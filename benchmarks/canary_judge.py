"""The canary judge's false-promotion and false-rollback rates, simulated at the default settings.

Each run is one analysis step as the canary strategy takes it with the default analysis (2
measurements 5 s apart, each judging everything since the weight was set; 99% confidence; at
least 50 samples a side; error-rate within 0.02, p95 latency within 25%): a failed measurement
rolls back at once, a final pass promotes, anything else pauses (inconclusive). Requests arrive
at `--rate` a second on each side; latencies are log-normal around 20 ms; errors are random.

Cases: an identical canary (1% errors both sides: any rollback is false), a canary with 4% more
errors and one 50% slower (any promotion is false). The baseline, in the same run, is the rule
before issue 22: a one-sided Mann-Whitney U test that failed only a canary proven worse and
passed everything else.

Usage: python benchmarks/canary_judge.py [--runs 100] [--rate 10]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from lockgate.deploy.analysis.judge import FAIL, INCONCLUSIVE, PASS, compare, score, summary
from lockgate.deploy.envfile import AnalysisSpec

SPEC = AnalysisSpec()
Judge = Callable[..., str]


@dataclass
class Case:
    name: str
    extra_errors: float
    slower: float  # latency factor
    bad: bool


CASES = [
    Case("identical", 0.0, 1.0, bad=False),
    Case("4% more errors", 0.04, 1.0, bad=True),
    Case("50% slower", 0.0, 1.5, bad=True),
]


def requests(rng: random.Random, n: int, errors: float, slower: float) -> tuple[list, list]:  # type: ignore[type-arg]
    latencies = [slower * rng.lognormvariate(-3.9, 0.4) for _ in range(n)]
    failures = [1.0 if rng.random() < errors else 0.0 for _ in range(n)]
    return latencies, failures


def judged_now(canary: tuple[list, list], baseline: tuple[list, list]) -> str:  # type: ignore[type-arg]
    results = []
    for metric in SPEC.metrics:
        index = 0 if metric.name == "latency" else 1
        results.append(
            compare(
                metric.name,
                canary[index],
                baseline[index],
                statistic=metric.statistic,
                tolerance=float(metric.tolerance),
                relative=metric.name == "latency",
                confidence=SPEC.confidence,
                min_samples=SPEC.min_samples,
            ).verdict
        )
    return _scored(results)


def judged_before(canary: tuple[list, list], baseline: tuple[list, list]) -> str:  # type: ignore[type-arg]
    """The rule before issue 22: fail when significantly worse beyond tolerance, else pass."""
    from scipy.stats import mannwhitneyu

    results = []
    for metric in SPEC.metrics:
        index = 0 if metric.name == "latency" else 1
        c, b = canary[index], baseline[index]
        if min(len(c), len(b)) < SPEC.min_samples:
            results.append(INCONCLUSIVE)
            continue
        sc, sb = summary(c, metric.statistic), summary(b, metric.statistic)
        effect = (sc - sb) / sb if metric.name == "latency" else sc - sb
        p = 1.0 if len(set(c) | set(b)) == 1 else mannwhitneyu(c, b, alternative="greater").pvalue
        worse = p < 1 - SPEC.confidence and effect > float(metric.tolerance)
        results.append(FAIL if worse else PASS)
    return _scored(results)


def _scored(verdicts: list[str]) -> str:
    from lockgate.deploy.analysis.judge import MetricResult

    return score(
        [MetricResult(str(i), v, "") for i, v in enumerate(verdicts)],
        float(SPEC.pass_score),
        float(SPEC.marginal_score),
    ).verdict


def one_run(rng: random.Random, case: Case, rate: float, judge: Judge) -> str:
    """promoted, rolled back or paused, as the canary strategy decides an analysis step."""
    n = int(rate * SPEC.interval * SPEC.count)
    canary = requests(rng, n, 0.01 + case.extra_errors, case.slower)
    baseline = requests(rng, n, 0.01, 1.0)
    for number in range(1, SPEC.count + 1):
        seen = int(rate * SPEC.interval * number)
        verdict = judge(
            (canary[0][:seen], canary[1][:seen]), (baseline[0][:seen], baseline[1][:seen])
        )
        if verdict == FAIL:
            return "rolled back"
    return "promoted" if verdict == PASS else "paused"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="requests a second, each side")
    args = parser.parse_args()
    n = int(args.rate * SPEC.interval * SPEC.count)
    print(f"{args.runs} simulated runs per case, {n} requests a side by the last measurement")
    for label, judge in (("now", judged_now), ("before issue 22", judged_before)):
        for case in CASES:
            rng = random.Random(f"{case.name}/{args.rate}")  # both rules see the same requests
            outcomes = Counter(one_run(rng, case, args.rate, judge) for _ in range(args.runs))
            wrong = outcomes["promoted"] if case.bad else outcomes["rolled back"]
            kind = "false promotion" if case.bad else "false rollback"
            shown = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
            print(f"  {label:16} {case.name:15} {kind} {wrong / args.runs:5.0%}   ({shown})")


if __name__ == "__main__":
    main()
