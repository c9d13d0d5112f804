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
from ..common.validation import first_problem
from ..store.flags import FlagChange, FlagKind, FlagRecord, FlagRecords, FlagState, SegmentRecord
from . import debt, refs
from .constraints import LIST_OPERATORS, OPERATORS
from .definitions import ClientFeatures, Constraint, Feature, Segment, Strategy, Variant

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
        feature = self.checked(name, environment, document)  # checked: stored as it is
        summary = f"defined in {environment}"
        return self.records.set_state(self._state(feature, environment), actor, summary)

    def checked(self, name: str, environment: str, document: dict[str, Any]) -> Feature:
        """`document` as the flag's state in `environment` would be stored and served
        (segments named by name given their ids), or a UserError saying what is wrong."""
        record = self.records.live(name)
        document = self._segment_ids(document, f"flag {name!r} in {environment}")
        try:
            feature = Feature.model_validate({"name": name, "enabled": False, **document})
        except ValidationError as exc:
            raise UserError(f"flag {name!r} in {environment}: {first_problem(exc)}") from None
        self._check(feature)
        return _feature(record, self._state(feature, environment))

    def _save(self, feature: Feature, environment: str, actor: str, summary: str) -> FlagChange:
        self._check(feature)
        return self.records.set_state(self._state(feature, environment), actor, summary)

    def _check(self, feature: Feature) -> None:
        _check_variants(feature.variants, feature.name)
        known = {s.id for s in self.records.segments()}
        for strategy in feature.strategies:
            _check_variants(strategy.variants, feature.name)
            _check_constraints(strategy.constraints, f"flag {feature.name!r}")
            for segment in strategy.segments:
                if segment not in known:  # a strategy naming it would never match
                    raise UserError(f"flag {feature.name!r}: no segment has the id {segment}",
                                    hint="`lockgate flags segments` lists them")  # fmt: skip

    @staticmethod
    def _state(feature: Feature, environment: str) -> FlagState:
        return FlagState(
            flag=feature.name,
            environment=_environment(environment),
            enabled=feature.enabled,
            strategies=[s.model_dump(by_alias=True, exclude_defaults=True)
                        for s in feature.strategies],
            variants=[v.model_dump(by_alias=True, exclude_defaults=True) for v in feature.variants],
            changed_at=time.time(),
        )  # fmt: skip

    # -- segments ------------------------------------------------------------------------------
    def define_segment(
        self, name: str, description: str, constraints: Any, actor: str
    ) -> SegmentRecord:
        if not NAME.match(name):
            raise UserError(
                f"{name!r} cannot name a segment",
                hint="use letters, digits and . _ - ~ (at most 100 characters)",
            )
        kept = segment_constraints(name, constraints)
        return self.records.set_segment(name, description, kept, actor)

    def remove_segment(self, name: str, actor: str) -> None:
        segment = self._segment(name)
        users = sorted({state.flag for states in self.records.every_state().values()
                        for state in states for strategy in state.strategies
                        if segment.id in strategy.get("segments", ())})  # fmt: skip
        if users:
            raise UserError(f"segment {name!r} is used by {', '.join(users)}",
                            hint="take it out of their strategies first")  # fmt: skip
        self.records.remove_segment(segment, actor)

    def _segment(self, name: str) -> SegmentRecord:
        found = next((s for s in self.records.segments() if s.name == name), None)
        if found is None:
            raise UserError(f"no segment named {name!r}", hint="`lockgate flags segments`")
        return found

    def _segment_ids(self, document: dict[str, Any], where: str) -> dict[str, Any]:
        """`document` with segments named by name given their ids (definitions written by
        people name them; Unleash's wire format has ids)."""
        strategies = document.get("strategies")
        if not isinstance(strategies, list):
            return document
        ids = {s.name: s.id for s in self.records.segments()}
        resolved = []
        for strategy in strategies:
            named = strategy.get("segments") if isinstance(strategy, dict) else None
            if isinstance(named, list):
                unknown = [n for n in named if isinstance(n, str) and n not in ids]
                if unknown:
                    raise UserError(f"{where}: no segment named {unknown[0]!r}",
                                    hint="`lockgate flags segments` lists them")  # fmt: skip
                strategy = {**strategy, "segments": [ids.get(n, n) for n in named]}
            resolved.append(strategy)
        return {**document, "strategies": resolved}

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
    def client_features(self, environment: str, inline_segments: bool = False) -> ClientFeatures:
        """The environment's flags and the segments they name; `inline_segments` copies each
        segment's constraints into the strategies instead, for SDKs older than Unleash's
        client specification 4.2 (as Unleash's server does for them)."""
        features = [_feature(r, s) for r, s in self.records.states(_environment(environment))]
        named = {n for f in features for s in f.strategies for n in s.segments}
        segments = [Segment(id=s.id, name=s.name, constraints=s.constraints)
                    for s in self.records.segments() if s.id in named]  # fmt: skip
        if inline_segments:
            return ClientFeatures(
                version=2, features=tuple(_inlined(f, segments) for f in features)
            )
        return ClientFeatures(version=2, features=tuple(features), segments=tuple(segments))


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


def segment_constraints(name: str, constraints: Any) -> list[dict[str, Any]]:
    """A segment's constraints checked, as the store keeps them (UserError if they are not
    valid, or none)."""
    try:
        checked = Segment.model_validate({"id": 0, "constraints": constraints})
    except ValidationError as exc:
        raise UserError(f"segment {name!r}: {first_problem(exc)}") from None
    if not checked.constraints:
        raise UserError(f"segment {name!r} has no constraints",
                        hint="a segment is a named list of constraints")  # fmt: skip
    _check_constraints(checked.constraints, f"segment {name!r}")
    return [c.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            for c in checked.constraints]  # fmt: skip


def _inlined(feature: Feature, segments: list[Segment]) -> Feature:
    by_id = {s.id: s.constraints for s in segments}
    strategies = tuple(
        s.model_copy(update={"segments": (), "constraints": s.constraints + tuple(
            c for n in s.segments for c in by_id.get(n, ()))})
        for s in feature.strategies
    )  # fmt: skip
    return feature.model_copy(update={"strategies": strategies})


def _environment(name: str) -> str:
    if not ENVIRONMENT.match(name):
        raise UserError(f"{name!r} cannot name an environment",
                        hint="use letters, digits and . _ - (at most 100 characters)")  # fmt: skip
    return name


def _check_constraints(constraints: tuple[Constraint, ...], where: str) -> None:
    """Refuse what SDKs would silently read as false: an unknown operator, a list operator
    without values, a one-value operator without its value."""
    for constraint in constraints:
        said = f"{where}: constraint on {constraint.context_name!r}"
        if constraint.operator not in OPERATORS:
            raise UserError(f"{said}: unknown operator {constraint.operator!r}",
                            hint=f"use one of: {', '.join(OPERATORS)}")  # fmt: skip
        listed = constraint.operator in LIST_OPERATORS
        if listed and not constraint.values:
            raise UserError(f"{said}: {constraint.operator} needs `values`, a list")
        if not listed and constraint.value is None:
            raise UserError(f"{said}: {constraint.operator} needs a `value`")


def _check_variants(variants: tuple[Variant, ...], flag: str) -> None:
    if any(v.weight < 0 for v in variants):
        raise UserError(f"flag {flag!r}: a variant's weight cannot be negative")
    if variants and sum(v.weight for v in variants) == 0:
        raise UserError(f"flag {flag!r}: its variants' weights add up to 0",
                        hint="give each variant a weight (Unleash uses 1000 in all)")  # fmt: skip
