"""Flag evaluation as Unleash's client specification defines it: a flag is on when it is
enabled, its parents agree, and one of its strategies (constraints, segments, then the
strategy's own rule) says yes; the variant comes from that strategy's variants, else the flag's.

Buckets use Unleash's hashing (MurmurHash3 x86 32-bit of `group:id`, modulo 100, plus 1), so a
user keeps their answer as a rollout's percentage grows, and gets the same answer from lockgate
as from any Unleash SDK. Nothing here raises into the application: what cannot be read is off."""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass

import mmh3

from .constraints import holds
from .context import Context
from .definitions import ClientFeatures, Feature, Payload, Strategy, Variant

VARIANT_SEED = 86028157  # Unleash hashes variants apart from rollouts (client spec v5)


def bucket(identifier: str, group: str, normalizer: int = 100, seed: int = 0) -> int:
    """1..normalizer, the same for the same (identifier, group) in every Unleash client."""
    return mmh3.hash(f"{group}:{identifier}", seed, signed=False) % normalizer + 1


@dataclass(frozen=True)
class VariantResult:
    name: str
    enabled: bool
    feature_enabled: bool
    payload: Payload | None = None


def disabled(feature_enabled: bool = False) -> VariantResult:
    return VariantResult("disabled", False, feature_enabled)


@dataclass(frozen=True)
class Evaluation:
    enabled: bool
    variant: VariantResult
    reason: str  # why: "disabled", "strategy <name>", "no strategy matched", "unknown flag"...


class Evaluator:
    """Answers for one environment's flags, as fetched from `/api/client/features`."""

    def __init__(self, state: ClientFeatures) -> None:
        self.features = {f.name: f for f in state.features}
        self.segments = {s.id: s.constraints for s in state.segments}

    def enabled(self, name: str, context: Context) -> bool:
        return self.evaluate(name, context).enabled

    def evaluate(self, name: str, context: Context) -> Evaluation:
        feature = self.features.get(name)
        if feature is None:
            return Evaluation(False, disabled(), "unknown flag")
        return self._evaluate(feature, context)

    def _evaluate(self, feature: Feature, context: Context) -> Evaluation:
        if not feature.enabled:
            return Evaluation(False, disabled(), "disabled")
        if not self._parents_agree(feature, context):
            return Evaluation(False, disabled(), "a flag it depends on disagrees")
        if not feature.strategies:
            return Evaluation(True, self._variant(feature.variants, feature.name, context), "on")
        for strategy in feature.strategies:
            if not strategy.disabled and self._strategy_says_yes(feature, strategy, context):
                if strategy.variants:  # they inherit the strategy's group and stickiness
                    group = strategy.parameters.get("groupId") or feature.name
                    sticky = strategy.parameters.get("stickiness", "default")
                    chosen = self._variant(strategy.variants, group, context, sticky)
                else:
                    chosen = self._variant(feature.variants, feature.name, context)
                return Evaluation(True, chosen, f"strategy {strategy.name}")
        return Evaluation(False, disabled(), "no strategy matched")

    def _parents_agree(self, feature: Feature, context: Context) -> bool:
        for dependency in feature.dependencies:
            parent = self.features.get(dependency.feature)
            if parent is None or parent.dependencies:
                return False  # unknown, or itself a child: Unleash allows one level
            seen = self._evaluate(parent, context)
            if seen.enabled != dependency.enabled:
                return False
            wanted = dependency.variants if dependency.enabled else ()
            if wanted and seen.variant.name not in wanted:
                return False
        return True

    def _strategy_says_yes(self, feature: Feature, strategy: Strategy, context: Context) -> bool:
        for constraint in strategy.constraints:
            if not holds(constraint, context):
                return False
        for segment in strategy.segments:
            constraints = self.segments.get(segment)
            if constraints is None:
                return False  # a segment the state does not hold: never match blindly
            if not all(holds(c, context) for c in constraints):
                return False
        rule = STRATEGIES.get(strategy.name)
        if rule is None:
            return False  # a custom strategy this evaluator does not know
        try:
            return rule(feature, strategy.parameters, context)
        except (ValueError, KeyError):
            return False

    def _variant(
        self,
        variants: tuple[Variant, ...],
        group: str,
        context: Context,
        stickiness: str = "default",
    ) -> VariantResult:
        total = sum(v.weight for v in variants)
        if not variants or total <= 0:
            return disabled(True)
        for variant in variants:
            for override in variant.overrides:
                if context.get(override.context_name) in override.values:
                    return VariantResult(variant.name, True, True, variant.payload)
        identifier = _sticky(variants[0].stickiness or stickiness, context)
        target = bucket(identifier, group, total, VARIANT_SEED)
        reached = 0
        for variant in variants:
            reached += variant.weight
            if reached >= target:
                return VariantResult(variant.name, True, True, variant.payload)
        return disabled(True)


def _sticky(stickiness: str, context: Context) -> str:
    """The identifier a user is bucketed by; a random one when the context has none."""
    if stickiness == "default":
        for name in ("userId", "sessionId", "remoteAddress"):
            found = context.get(name)
            if found is not None:
                return found
    elif stickiness != "random":
        found = context.get(stickiness)
        if found is not None:
            return found
    return str(random.random() * 10000)


def _percentage(parameters: dict[str, str], name: str) -> int:
    return int(float(parameters.get(name, "0")))


def _flexible(feature: Feature, parameters: dict[str, str], context: Context) -> bool:
    rollout = _percentage(parameters, "rollout")
    group = parameters.get("groupId") or feature.name
    stickiness = parameters.get("stickiness") or "default"
    if stickiness == "default":
        found = context.get("userId") or context.get("sessionId")
        seen = bucket(found, group) if found is not None else random.randint(1, 100)
    elif stickiness == "random":
        seen = random.randint(1, 100)
    else:
        custom = context.get(stickiness)
        if custom is None:
            return False
        seen = bucket(custom, group)
    return rollout > 0 and seen <= rollout


def _gradual(field: str) -> Callable[[Feature, dict[str, str], Context], bool]:
    def rule(feature: Feature, parameters: dict[str, str], context: Context) -> bool:
        found = context.get(field)
        percentage = _percentage(parameters, "percentage")
        group = parameters.get("groupId") or feature.name
        return found is not None and percentage > 0 and bucket(found, group) <= percentage

    return rule


def _random(feature: Feature, parameters: dict[str, str], context: Context) -> bool:
    percentage = _percentage(parameters, "percentage")
    return percentage > 0 and random.randint(1, 100) <= percentage


def _listed(parameters: dict[str, str], name: str) -> list[str]:
    return [item.strip() for item in parameters.get(name, "").split(",") if item.strip()]


def _user_with_id(feature: Feature, parameters: dict[str, str], context: Context) -> bool:
    return context.user_id is not None and context.user_id in _listed(parameters, "userIds")


def _remote_address(feature: Feature, parameters: dict[str, str], context: Context) -> bool:
    if context.remote_address is None:
        return False
    for entry in _listed(parameters, "IPs"):
        if entry == context.remote_address:
            return True
        try:
            if ipaddress.ip_address(context.remote_address) in ipaddress.ip_network(
                entry, strict=False
            ):
                return True
        except ValueError:
            continue
    return False


def _hostname(feature: Feature, parameters: dict[str, str], context: Context) -> bool:
    here = socket.gethostname().lower()
    return here in (h.lower() for h in _listed(parameters, "hostNames"))


STRATEGIES: dict[str, Callable[[Feature, dict[str, str], Context], bool]] = {
    "default": lambda feature, parameters, context: True,
    "flexibleRollout": _flexible,
    "gradualRolloutUserId": _gradual("userId"),
    "gradualRolloutSessionId": _gradual("sessionId"),
    "gradualRolloutRandom": _random,
    "userWithId": _user_with_id,
    "remoteAddress": _remote_address,
    "applicationHostname": _hostname,
}
