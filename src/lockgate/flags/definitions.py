"""Feature flag definitions in the shape of Unleash's client API (`GET /api/client/features`),
which is what lockgate serves to Unleash's SDKs and what its own evaluator reads: one format
from the store to the wire. Fields Unleash adds that evaluation does not read are ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class Constraint(_Wire):
    context_name: str = Field(alias="contextName")
    operator: str
    values: tuple[str, ...] = ()
    value: str | None = None
    inverted: bool = False
    case_insensitive: bool = Field(False, alias="caseInsensitive")

    @field_validator("values", mode="before")
    @classmethod
    def _texts(cls, values: Any) -> Any:
        return [str(v) for v in values] if isinstance(values, list) else values

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return None if value is None else str(value)


class Payload(_Wire):
    type: str
    value: str


class Override(_Wire):
    context_name: str = Field(alias="contextName")
    values: tuple[str, ...] = ()


class Variant(_Wire):
    name: str
    weight: int = 0
    weight_type: str | None = Field(None, alias="weightType")  # "fix" or "variable"
    stickiness: str | None = None
    payload: Payload | None = None
    overrides: tuple[Override, ...] = ()


class Strategy(_Wire):
    name: str
    parameters: dict[str, str] = Field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()
    segments: tuple[int, ...] = ()
    variants: tuple[Variant, ...] = ()
    disabled: bool = False

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameter_texts(cls, parameters: Any) -> Any:
        if parameters is None:
            return {}
        if isinstance(parameters, dict):
            return {str(k): str(v) for k, v in parameters.items()}
        return parameters


class Dependency(_Wire):
    feature: str
    enabled: bool = True
    variants: tuple[str, ...] = ()


class Feature(_Wire):
    name: str
    type: str | None = None
    description: str | None = None
    enabled: bool
    strategies: tuple[Strategy, ...] = ()
    variants: tuple[Variant, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    impression_data: bool = Field(False, alias="impressionData")

    @field_validator("strategies", "variants", "dependencies", mode="before")
    @classmethod
    def _none_is_empty(cls, items: Any) -> Any:
        return () if items is None else items


class Segment(_Wire):
    id: int
    name: str | None = None
    constraints: tuple[Constraint, ...] = ()


class ClientFeatures(_Wire):
    """What an SDK fetches: every flag of one environment, and the segments they name."""

    version: int = 2
    features: tuple[Feature, ...] = ()
    segments: tuple[Segment, ...] = ()
