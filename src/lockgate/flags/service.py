"""Changing flags and reading them back, for the CLI and the server alike: every change is
checked before it is stored (a strategy SDKs could not read never reaches them) and audited."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..common.errors import UserError
from ..store.flags import FlagChange, FlagKind, FlagRecord, FlagRecords, FlagState
from . import debt, refs
from .definitions import ClientFeatures, Feature, Strategy, Variant

# Flag names go into URLs and code: letters (any script), digits and . _ - ~, as Unleash's.
NAME = re.compile(r"^[\w.~-]{1,100}$")
ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class FlagService:
    def __init__(self, records: FlagRecords) -> None:
        self.records = records

    def create(self, name: str, kind: str, description: str, actor: str) -> FlagRecord:
        if not NAME.match(name):
            raise UserError(
                f"{name!r} cannot name a flag",
                hint="use letters, digits and . _ - ~ (at most 100 characters)",
            )
        try:
            known = FlagKind(kind)
        except ValueError:
            raise UserError(
                f"unknown flag type {kind!r}",
                hint=f"use one of: {', '.join(k.value for k in FlagKind)}",
            ) from None
        return self.records.create(name, known, description, actor)

    def archive(self, name: str, actor: str, reason: str) -> FlagRecord:
        if not reason.strip():
            raise UserError("say why the flag is archived", hint="--reason '...'")
        return self.records.archive(name, actor, reason)

    # -- state in one environment ------------------------------------------------------------
    def feature(self, name: str, environment: str) -> Feature:
        """The flag as SDKs in `environment` see it."""
        record = self.records.live(name)
        return _feature(record, self.records.state(name, _environment(environment)))

    def switch(
        self, name: str, environment: str, enabled: bool, actor: str, because: str = ""
    ) -> FlagChange:
        current = self.feature(name, environment)
        said = f"{'enabled' if enabled else 'disabled'} in {environment}"
        return self._save(current.model_copy(update={"enabled": enabled}), environment, actor,
                          f"{said}: {because}" if because else said)  # fmt: skip

    def rollout(
        self, name: str, environment: str, percent: int, actor: str, stickiness: str = "default"
    ) -> FlagChange:
        """Serve the flag to `percent` of users (a flexible rollout grouped by the flag's name,
        so those in keep it as the percentage grows); enables it. Constraints, segments and
        variants of the flag's rollout strategy stay."""
        if not 0 <= percent <= 100:
            raise UserError(f"a rollout is 0 to 100 percent, not {percent}")
        current = self.feature(name, environment)
        kept = next((s for s in current.strategies if s.name == "flexibleRollout"), None)
        parameters = {"rollout": str(percent), "stickiness": stickiness, "groupId": name}
        strategy = (
            kept.model_copy(update={"parameters": parameters}) if kept is not None
            else Strategy(name="flexibleRollout", parameters=parameters)
        )  # fmt: skip
        return self._save(
            current.model_copy(update={"enabled": True, "strategies": (strategy,)}),
            environment,
            actor,
            f"rolled out to {percent}% in {environment} (stickiness {stickiness})",
        )

    def define(
        self,
        name: str,
        environment: str,
        document: dict[str, Any],
        actor: str,
    ) -> FlagChange:
        """Replace the flag's state in `environment` with `document` (enabled, strategies,
        variants in Unleash's shape), checked first."""
        self.records.live(name)
        try:
            feature = Feature.model_validate({"name": name, "enabled": False, **document})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise UserError(f"flag {name!r} in {environment}: {where}: {first['msg']}") from None
        return self._save(feature, environment, actor, f"defined in {environment}")

    def _save(self, feature: Feature, environment: str, actor: str, summary: str) -> FlagChange:
        _check_variants(feature.variants, feature.name)
        for strategy in feature.strategies:
            _check_variants(strategy.variants, feature.name)
            if strategy.segments:  # it would never match: none can be defined yet
                raise UserError(
                    f"flag {feature.name!r}: segments cannot be defined in lockgate yet",
                    hint="put the segment's constraints in the strategy",
                )
        state = FlagState(
            flag=feature.name,
            environment=_environment(environment),
            enabled=feature.enabled,
            strategies=[s.model_dump(by_alias=True, exclude_defaults=True)
                        for s in feature.strategies],
            variants=[v.model_dump(by_alias=True, exclude_defaults=True) for v in feature.variants],
            changed_at=time.time(),
        )  # fmt: skip
        return self.records.set_state(state, actor, summary)

    # -- flag debt -----------------------------------------------------------------------------
    def debts(self, now: float, settled_days: float, code: Path | None) -> list[debt.Debt]:
        """Flags past their type's lifetime or settled for everyone, with where `code` (a
        directory) still names them."""
        found = []
        every = self.records.every_state()
        for record in self.records.all():
            stored = every.get(record.name, [])
            states = [(s.environment, _feature(record, s), s) for s in stored]
            reasons = debt.assess(record, states, now, settled_days)
            if reasons:
                found.append(debt.Debt(record.name, str(record.kind), reasons, []))
        if code is not None and found:
            where = refs.references(code, [d.flag for d in found])
            found = [dataclasses.replace(d, references=where.get(d.flag, [])) for d in found]
        return found

    # -- what SDKs fetch ------------------------------------------------------------------------
    def client_features(self, environment: str) -> ClientFeatures:
        features = [_feature(r, s) for r, s in self.records.states(_environment(environment))]
        return ClientFeatures(version=2, features=tuple(features))


def _feature(record: FlagRecord, state: FlagState | None) -> Feature:
    if state is None:
        return Feature(name=record.name, type=str(record.kind), description=record.description,
                       enabled=False)  # fmt: skip
    return Feature.model_validate(
        {
            "name": record.name,
            "type": str(record.kind),
            "description": record.description,
            "enabled": state.enabled,
            "strategies": state.strategies,
            "variants": state.variants,
        }
    )


def _environment(name: str) -> str:
    if not ENVIRONMENT.match(name):
        raise UserError(f"{name!r} cannot name an environment",
                        hint="use letters, digits and . _ - (at most 100 characters)")  # fmt: skip
    return name


def _check_variants(variants: tuple[Variant, ...], flag: str) -> None:
    if any(v.weight < 0 for v in variants):
        raise UserError(f"flag {flag!r}: a variant's weight cannot be negative")
    if variants and sum(v.weight for v in variants) == 0:
        raise UserError(f"flag {flag!r}: its variants' weights add up to 0",
                        hint="give each variant a weight (Unleash uses 1000 in all)")  # fmt: skip
