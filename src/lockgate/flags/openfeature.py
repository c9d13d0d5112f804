"""lockgate's flags behind the OpenFeature API (`pip install lockgate[openfeature]`): a
provider over FlagClient, so an application written against OpenFeature evaluates in-process
and can change vendors without changing its code.

    api.set_provider(LockgateProvider(FlagClient(URL, KEY)))
    api.get_client().get_boolean_value("new-checkout", False, EvaluationContext("user-1"))

Answers are the OFREP mapping's (`ofrep.py`): a boolean for a flag without payloads, the
variant's typed payload otherwise; errors carry OpenFeature's error codes and the default.

Tracking reports a request for a guarded rollout's analysis: the event's `flag` attribute
names the flag, `failed` says whether the request failed, its value is the latency (seconds):

    client.track("request", EvaluationContext("user-1"),
                 TrackingEventDetails(0.012, {"flag": "new-checkout", "failed": False}))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata
from openfeature.track import TrackingEventDetails

from . import ofrep
from .client import FlagClient
from .context import Context

KINDS: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "string": (str,),
    "integer": (int,),
    "float": (float, int),
    "object": (dict, list),
}


class LockgateProvider(AbstractProvider):
    def __init__(self, client: FlagClient) -> None:
        self.client = client

    def get_metadata(self) -> Metadata:
        return Metadata(name="lockgate")

    def shutdown(self) -> None:
        self.client.close()

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """An event naming a `flag` is an observation of it; others are not lockgate's."""
        details = tracking_event_details or TrackingEventDetails()
        flag = details.attributes.get("flag")
        if not isinstance(flag, str):
            return
        self.client.observe(flag, _context(evaluation_context),
                            failed=details.attributes.get("failed") is True,
                            latency=details.value)  # fmt: skip

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve("boolean", flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve("string", flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve("integer", flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve("float", flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolve("object", flag_key, default_value, evaluation_context)

    def _resolve(
        self, kind: str, key: str, default: Any, given: EvaluationContext | None
    ) -> FlagResolutionDetails[Any]:
        if self.client.source == "none":
            return _failed(default, ErrorCode.PROVIDER_NOT_READY, "no flags yet")
        try:
            found = ofrep.answer(self.client.evaluator, key, _context(given))
        except Exception as exc:  # a definition that cannot be evaluated: the default
            return _failed(default, ErrorCode.GENERAL, str(exc))
        if found.error_code is not None:
            return _failed(default, ErrorCode(found.error_code), found.error_details or "")
        if found.value is None:
            return FlagResolutionDetails(default, reason=found.reason, variant=found.variant)
        value: Any = found.value
        boolean_for_number = kind != "boolean" and isinstance(value, bool)
        if not isinstance(value, KINDS[kind]) or boolean_for_number:
            said = f"{key} answers a {type(value).__name__}, not a {kind}"
            return _failed(default, ErrorCode.TYPE_MISMATCH, said)
        if kind == "float":
            value = float(found.value)
        return FlagResolutionDetails(value, reason=found.reason, variant=found.variant)


def _failed(default: Any, code: ErrorCode, message: str) -> FlagResolutionDetails[Any]:
    return FlagResolutionDetails(default, error_code=code, error_message=message,
                                 reason=Reason.ERROR)  # fmt: skip


def _context(given: EvaluationContext | None) -> Context:
    if given is None:
        return Context()
    fields: dict[str, Any] = dict(given.attributes or {})
    if given.targeting_key:
        fields["userId"] = given.targeting_key
    return Context.of(fields)
