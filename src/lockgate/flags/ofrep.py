"""Answers in the OpenFeature Remote Evaluation Protocol (OFREP), so any OpenFeature SDK's OFREP
provider evaluates lockgate's flags. A flag without payloads answers a boolean (is it on); a
flag whose variants carry payloads answers the chosen variant's payload, typed (string, number,
JSON), and when off leaves the value out: the application's own default then holds."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .context import Context
from .evaluate import Evaluation, Evaluator

PERCENTAGE_STRATEGIES = {"flexibleRollout", "gradualRolloutUserId", "gradualRolloutSessionId",
                         "gradualRolloutRandom"}  # fmt: skip


class Answer(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str
    reason: str | None = None  # STATIC, TARGETING_MATCH, SPLIT, DISABLED
    variant: str | None = None
    value: Any = None  # absent: use the code's default
    error_code: str | None = Field(None, alias="errorCode")  # FLAG_NOT_FOUND, PARSE_ERROR
    error_details: str | None = Field(None, alias="errorDetails")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def context_of(body: Any) -> Context:
    """OFREP's context: `targetingKey` is the user; every other field is a property."""
    if body is None or body == {}:
        return Context()  # OpenFeature's OFREP provider sends `{}` when there is no context
    given = body.get("context", {}) if isinstance(body, dict) else None
    if not isinstance(given, dict):
        raise ValueError("the request body's `context` must be a JSON object")
    fields = {k: v for k, v in given.items() if k != "targetingKey"}
    if given.get("targetingKey") is not None:
        fields["userId"] = given["targetingKey"]
    return Context.of(fields)


def answer(evaluator: Evaluator, key: str, context: Context) -> Answer:
    if key not in evaluator.features:
        return Answer(key=key, error_code="FLAG_NOT_FOUND", error_details=f"no flag {key!r}")
    seen = evaluator.evaluate(key, context)
    reason = _reason(evaluator, key, seen)
    payloads = any(v.payload is not None for v in _variants(evaluator, key))
    if not payloads:
        return Answer(key=key, reason=reason, variant="on" if seen.enabled else "off",
                      value=seen.enabled)  # fmt: skip
    payload = seen.variant.payload
    if not seen.enabled or payload is None:
        return Answer(key=key, reason=reason, variant=seen.variant.name)
    try:
        value = _typed(payload.type, payload.value)
    except ValueError as exc:
        return Answer(key=key, error_code="PARSE_ERROR",
                      error_details=f"variant {seen.variant.name}: {exc}")  # fmt: skip
    return Answer(key=key, reason=reason, variant=seen.variant.name, value=value)


def _variants(evaluator: Evaluator, key: str) -> list[Any]:
    feature = evaluator.features[key]
    return [*feature.variants, *(v for s in feature.strategies for v in s.variants)]


def _reason(evaluator: Evaluator, key: str, seen: Evaluation) -> str:
    feature = evaluator.features[key]
    if not feature.enabled or (not seen.enabled and not feature.strategies):
        return "DISABLED"
    if not seen.enabled:
        return "TARGETING_MATCH"  # the targeting was evaluated, and it says off
    decided = seen.reason.removeprefix("strategy ")
    if decided in PERCENTAGE_STRATEGIES or seen.variant.enabled:
        return "SPLIT"
    if all(s.name == "default" and not s.constraints and not s.segments
           for s in feature.strategies):  # fmt: skip
        return "STATIC"
    return "TARGETING_MATCH"


def _typed(kind: str, text: str) -> Any:
    if kind == "json":
        return json.loads(text)
    if kind == "number":
        number = float(text)
        return int(number) if number.is_integer() and "." not in text else number
    return text
