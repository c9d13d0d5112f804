"""`lockgate plan`: what applying a config commit would do, environment by environment, before
anything is applied (as `terraform plan` shows it). It fetches and reads; it changes nothing
but the bare copy of the config repository."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ...common.errors import UserError
from ...store.gitops import Difference, GitopsRecords
from ...workflow.project import GitopsSourceSettings
from ..service import DeployService
from .compare import differences
from .source import Commit, ConfigRepository
from .sync import live_of


class Change(enum.StrEnum):
    ADD = "+"  # a new environment
    CHANGE = "~"
    REMOVE = "-"  # removed from git


@dataclass(frozen=True)
class PlannedChange:
    environment: str
    change: Change
    differences: list[Difference]
    note: str = ""
    refusal: str | None = None  # the policies' word on deploying it


@dataclass
class ConfigPlan:
    source: str
    commit: Commit
    changes: list[PlannedChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the commit is invalid: where and what

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def refused(self) -> list[PlannedChange]:
        """Changes the policies would refuse: applying the commit would stop there."""
        return [c for c in self.changes if c.refusal]

    def summary(self) -> str:
        if self.problems:
            return f"the config is invalid: {len(self.problems)} problem(s)"
        if not self.changes:
            return "no changes: every environment matches the config"
        counts = {c: sum(p.change == c for p in self.changes) for c in Change}
        refused = f"; {len(self.refused)} refused by policy" if self.refused else ""
        return (
            f"{counts[Change.ADD]} to add, {counts[Change.CHANGE]} to change, "
            f"{counts[Change.REMOVE]} to remove{refused}"
        )

    def lines(self) -> list[str]:
        """The plan as `+ ~ -` lines: what the CLI prints and a pull request's comment shows."""
        found = [f"error: {p}" for p in self.problems]
        for change in self.changes:
            mark = change.change.value
            found.append(
                f"{mark} {change.environment}" + (f" {change.note}" if change.note else "")
            )
            found += [f"    {mark} {d.field}: {d.live} -> {d.desired}" for d in change.differences]
            if change.refusal:
                found.append(f"    ! {change.refusal}")
        return found


def plan(
    service: DeployService,
    settings: GitopsSourceSettings,
    records: GitopsRecords,
    ref: str | None = None,
) -> ConfigPlan:
    """Compare the config at `ref` (default: the watched branch's tip) with what runs."""
    repository = ConfigRepository(settings, service.state)
    commit = repository.fetch(ref)
    found = ConfigPlan(repository.key, commit)
    with repository.tree(commit) as tree:
        if tree.problems:
            found.problems = [str(p) for p in tree.problems]
            return found
        deployed = set(service.names())
        for name, desired in tree.environments.items():
            differ = differences(desired.digest, desired.document, live_of(service, name))
            if name in deployed and not differ:
                continue
            try:
                refusal = service.refusal(name, desired.spec, desired.digest, commit.author)
            except UserError as exc:  # the bundle is not here: nothing to ask the policies of
                refusal = f"policies not asked: {exc.message}"
            if name not in deployed:
                replicas = desired.spec.target.replicas
                note = (
                    f"{desired.spec.app}: {replicas} instance(s) ({desired.spec.target.type}), "
                    f"{desired.spec.strategy.type}, router {desired.spec.router.type} "
                    f":{desired.spec.router.port}"
                )
                found.changes.append(PlannedChange(name, Change.ADD, differ, note, refusal))
            else:
                found.changes.append(PlannedChange(name, Change.CHANGE, differ, refusal=refusal))
        prune = tree.settings.sync.prune
        for kept in records.environments(repository.key):
            if kept.environment not in tree.environments:
                note = "would be stopped (prune: true)" if prune else "kept running (prune is off)"
                found.changes.append(PlannedChange(kept.environment, Change.REMOVE, [], note))
    return found
