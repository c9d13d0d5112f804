"""The environment file: which app, where it runs, behind which router, rolled out how."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..workflow.yamlmodel import load_model

HINT = "see the README's Deploying section for the environment file format"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class TargetSpec(_Strict):
    type: Literal["local"] = "local"
    replicas: int = Field(3, ge=1, le=500)


class RouterSpec(_Strict):
    type: Literal["builtin", "haproxy"] = "builtin"
    port: int = Field(8080, ge=1, le=65535)


class SmokeProbe(_Strict):
    path: str = "/"
    expect: int = 200


class StrategySpec(_Strict):
    type: Literal["rolling", "blue-green"] = "rolling"
    max_surge: int | str = Field(1, alias="max-surge")
    max_unavailable: int | str = Field(0, alias="max-unavailable")
    progress_deadline: float | int = Field(300, alias="progress-deadline", gt=0)
    readiness_timeout: float | int = Field(30, alias="readiness-timeout", gt=0)
    smoke: list[SmokeProbe] = []
    smoke_command: str | None = Field(None, alias="smoke-command")
    approval: bool = False
    scale_down_delay: float | int = Field(30, alias="scale-down-delay", ge=0)

    @field_validator("max_surge", "max_unavailable")
    @classmethod
    def _count_or_percent(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            if value < 0:
                raise ValueError("must be 0 or more")
            return value
        if not value.endswith("%") or not value[:-1].isdigit():
            raise ValueError(f"{value!r} is neither a count nor a percentage like 25%")
        return value


class ProvenanceSpec(_Strict):
    required: bool = False
    trusted_keys: list[str] = Field([], alias="trusted-keys")


class EnvironmentFile(_Strict):
    app: str
    environment: str | None = None
    target: TargetSpec = TargetSpec()
    router: RouterSpec = RouterSpec()
    strategy: StrategySpec = StrategySpec()
    provenance: ProvenanceSpec = ProvenanceSpec()

    @model_validator(mode="after")
    def _progress_possible(self) -> EnvironmentFile:
        s, n = self.strategy, self.target.replicas
        if s.type == "rolling" and surge(s, n) == 0 and unavailable(s, n) == 0:
            raise ValueError("max-surge and max-unavailable cannot both be 0: nothing could move")
        return self


def _resolve(value: int | str, replicas: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    exact = replicas * int(value[:-1]) / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def surge(strategy: StrategySpec, replicas: int) -> int:
    return _resolve(strategy.max_surge, replicas, round_up=True)  # as Kubernetes rounds


def unavailable(strategy: StrategySpec, replicas: int) -> int:
    return min(replicas, _resolve(strategy.max_unavailable, replicas, round_up=False))


def load_environment(path: Path, name: str | None = None) -> tuple[str, EnvironmentFile]:
    """(environment name, its settings); the name defaults to `name`, else the file's stem."""
    spec = load_model(path, str(path), EnvironmentFile, HINT)
    return spec.environment or name or path.stem, spec
