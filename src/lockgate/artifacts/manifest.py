"""lockgate-app.yaml: how an application bundle is started, checked and stopped."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..common.errors import UserError
from ..workflow.yamlmodel import load_model

FILE_NAME = "lockgate-app.yaml"
HINT = "see `lockgate-app.yaml` in examples/app and the README's Deploying section"


class Migrations(BaseModel):
    """How the app's schema migrations are written and applied (see deploy/migrations.py)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    kind: Literal["sql", "alembic", "django"]
    path: str = Field(min_length=1)  # in the bundle: SQL files, alembic's versions, django apps
    run: str = Field(min_length=1)  # applies them, in the release, with the deployer's env
    # the release was tested with the old version running on the new schema
    tested_against_old_schema: bool = Field(False, alias="tested-against-old-schema")

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"path must be inside the bundle, got {value!r}")
        return value


class AppManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    start: str  # shell command run in the release directory; $PORT is the port to listen on
    readiness: str = "/"  # HTTP path that answers 2xx when the instance can take traffic
    stop_signal: str = Field("TERM", alias="stop-signal")
    grace_seconds: float | int = Field(10, alias="grace-seconds", ge=0)
    # what policies know of the release (data-classification: eu-personal): they travel with
    # the bundle, so its digest and signature cover them
    labels: dict[str, str] = {}
    migrations: Migrations | None = None

    @field_validator("readiness")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"readiness must be an HTTP path starting with /, got {value!r}")
        return value

    @field_validator("stop_signal")
    @classmethod
    def _signal(cls, value: str) -> str:
        name = value.upper().removeprefix("SIG")
        if not hasattr(signal, f"SIG{name}"):
            raise ValueError(f"unknown signal {value!r}; use TERM, INT, QUIT, HUP ...")
        return name

    @property
    def signal_number(self) -> int:
        return int(getattr(signal, f"SIG{self.stop_signal}"))


def load_manifest(directory: Path, display: str | None = None) -> AppManifest:
    path = directory / FILE_NAME
    shown = display or str(path)
    if not path.is_file():
        raise UserError(
            f"{directory} has no {FILE_NAME}",
            where=shown,
            hint="add one with `name:` and a `start:` command that listens on $PORT",
        )
    return load_model(path, shown, AppManifest, HINT)
