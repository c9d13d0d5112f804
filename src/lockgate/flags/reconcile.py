"""Bringing lockgate's flags to what a flags file says (lockgate.flags.desired), as Argo CD
brings an application to its git state: a pass creates missing flags and segments and applies
each flag's state where the file changed it. A live state that differs from a file it was
applied from was changed by hand (a kill switch thrown in an emergency, say): it is drift,
shown and kept, unless `self_heal` puts the file's state back. Environments and flags the file
does not name are left alone, and no flag is archived from a file: a name retired by mistake
could never be used again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..common.errors import UserError
from ..store.flagsync import FlagSyncRecords
from .definitions import Feature
from .desired import DesiredFlags
from .service import FlagService, segment_constraints


@dataclass(frozen=True)
class Drift:
    flag: str
    environment: str
    detail: str  # in words: what differs


@dataclass
class Reconciled:
    actions: list[str] = field(default_factory=list)  # what the pass changed, in words
    drift: list[Drift] = field(default_factory=list)  # what differs from the file now
    problems: list[str] = field(default_factory=list)  # what could not be applied, and why


class FlagsReconciler:
    def __init__(self, service: FlagService, records: FlagSyncRecords, source: str) -> None:
        """`source` names where desired states come from (a config repository, a file): what
        each applied the last time is kept under it."""
        self.service, self.records, self.source = service, records, source

    def run(
        self, desired: DesiredFlags, revision: str, actor: str, apply: bool, self_heal: bool
    ) -> Reconciled:
        """Compare lockgate's flags with `desired` (read at `revision`: a commit, a file's
        digest) and, with `apply`, change them: what changed in the file, and with `self_heal`
        what changed by hand too."""
        done = Reconciled()
        document = desired.document
        stored = {s.name: s for s in self.service.records.segments()}
        for name, segment in document.segments.items():
            live = stored.get(name)
            if live is not None and live.constraints == _normal(name, segment.constraints):
                continue
            said = f"segment {name}: {'create' if live is None else 'change'}"
            define = partial(self.service.define_segment, name, segment.description,
                             segment.constraints, actor)  # fmt: skip
            self._do(done, said, apply, define)
        applied = self.records.applied(self.source)
        for name, flag in document.flags.items():
            record = self.service.records.get(name)
            if record is None:
                create = partial(self.service.create, name, flag.type, flag.description, actor)
                if not self._do(done, f"{name}: create ({flag.type})", apply, create):
                    continue
            elif record.archived_at is not None:
                done.problems.append(f"{name}: archived, so its name is never used again; "
                                     "rename the flag in the file")  # fmt: skip
                continue
            elif record.kind != flag.type:
                done.problems.append(f"{name}: it is a {record.kind} flag, the file says "
                                     f"{flag.type}; a flag's type does not change")  # fmt: skip
            for environment in flag.environments:
                self._environment(done, desired, name, environment, applied, revision, actor,
                                  apply, self_heal)  # fmt: skip
        return done

    def _environment(
        self,
        done: Reconciled,
        desired: DesiredFlags,
        name: str,
        environment: str,
        applied: dict[tuple[str, str], str],
        revision: str,
        actor: str,
        apply: bool,
        self_heal: bool,
    ) -> None:
        state = desired.document.flags[name].environments[environment]
        digest = desired.digest(name, environment)
        live = self._live(name, environment)
        try:
            wanted = self.service.checked(name, environment, state.model_dump()) if live else None
        except UserError as exc:
            done.problems.append(f"{name} in {environment}: {exc.message}")
            return
        if live is not None and wanted is not None and _same(live, wanted):
            if apply and applied.get((name, environment)) != digest:
                self.records.note(self.source, name, environment, digest, revision)
            return
        by_hand = live is not None and applied.get((name, environment)) == digest
        if by_hand and not self_heal:
            done.drift.append(Drift(name, environment, "changed by hand since it was applied "
                                    "(self-heal is off: kept)"))  # fmt: skip
            return
        said = f"{name} in {environment}: {'revert the change by hand' if by_hand else 'apply'}"

        def define() -> None:
            self.service.define(name, environment, state.model_dump(), actor)
            self.records.note(self.source, name, environment, digest, revision)

        self._do(done, said, apply, define)

    def _live(self, name: str, environment: str) -> Feature | None:
        """The flag's live state; None while it does not exist yet (a plan of a new flag)."""
        try:
            return self.service.feature(name, environment)
        except UserError:
            return None

    @staticmethod
    def _do(done: Reconciled, said: str, apply: bool, change: Callable[[], object]) -> bool:
        """Make the change (or, without `apply`, say it would be made); whether it was."""
        if not apply:
            done.actions.append(f"would {said}")
            return True
        try:
            change()
        except UserError as exc:
            done.problems.append(f"{said}: {exc.message}")
            return False
        done.actions.append(said)
        return True


def _normal(name: str, constraints: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Constraints as the store keeps a segment's (None when they are not valid: applying
    them says why)."""
    try:
        return segment_constraints(name, constraints)
    except UserError:
        return None


def _same(live: Feature, wanted: Feature) -> bool:
    fields = {"enabled", "strategies", "variants"}
    return live.model_dump(include=fields) == wanted.model_dump(include=fields)
