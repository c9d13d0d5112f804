"""The policy gate: every deploy, rollback, plan and repair of an environment asks it first.

Policies come from the repository's `policies/` folder (every path that changes an
environment runs in that repository: the CLI, the server, the agent, GitOps). A deny refuses
the change with the policies' messages and is recorded in the environment's events; policies
that cannot be evaluated refuse every change (fail closed).
"""

from __future__ import annotations

import time
from pathlib import Path

from ...artifacts import provenance, signed
from ...artifacts.manifest import AppManifest
from ..envfile import EnvironmentFile, TargetSpec
from .facts import Action, AuditLog, Host, PolicyInput, Provenance, Region, Release
from .labels import typos
from .rego import Decision, PolicyError, PolicySet, read_folder

FOLDER = "policies"


class PolicyRefusal(Exception):
    """A change the policies refuse, or cannot judge; `decision` is None when they could
    not be evaluated."""

    def __init__(self, message: str, decision: Decision | None = None) -> None:
        super().__init__(message)
        self.decision = decision


def _hosts(target: TargetSpec) -> list[Host]:
    if target.type == "ssh":
        return [Host(h.address, dict(h.labels)) for h in target.host_specs()]
    return [Host("localhost")]


def regions_of(spec: EnvironmentFile) -> list[Region]:
    """Where the environment runs: each region with its target's hosts."""
    if spec.regions:
        return [Region(r.name, dict(r.labels), _hosts(r.target)) for r in spec.regions]
    return [Region(spec.region.name, dict(spec.region.labels), _hosts(spec.target))]


def facts(
    name: str,
    spec: EnvironmentFile,
    app: AppManifest,
    digest: str,
    provenance: Provenance,
    action: Action,
    actor: str,
    at: float,
) -> PolicyInput:
    regions = regions_of(spec)
    audit = None
    log = spec.audit_log
    if log is not None and log.labels is not None:  # in another region of a parent's
        audit = AuditLog(log.region, dict(log.labels))
    elif log is not None:
        region = next(r for r in regions if r.name == log.region)
        audit = AuditLog(region.name, region.labels)
    return PolicyInput(
        action=action,
        actor=actor,
        at=at,
        environment=name,
        environment_labels=dict(spec.labels),
        release=Release(app.name, digest, dict(app.labels), provenance),
        regions=regions,
        audit_log=audit,
    )


def provenance_of(state: Path, spec: EnvironmentFile, digest: str) -> Provenance:
    """What the stored bundle's provenance shows, checked against the environment's keys."""
    keys = [Path(k) for k in spec.provenance.trusted_keys]
    try:
        verified = signed.verify_stored(digest, state, keys)
    except provenance.ProvenanceError as exc:
        return Provenance(verified=False, problem=str(exc))
    dependencies = verified.statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    commit = str(dependencies[0]["digest"]["gitCommit"])
    return Provenance(verified=True, key_id=verified.key_id, source_commit=commit)


def judge(repo: Path, question: PolicyInput) -> Decision:
    """The policies' decision; PolicyRefusal when it is a deny or cannot be made."""
    what = f"{question.action} of {question.release.digest[:12]} to {question.environment}"
    try:
        files = read_folder(repo / FOLDER, FOLDER)
        decision = PolicySet.of(files).evaluate(question.document())
    except PolicyError as exc:
        raise PolicyRefusal(
            f"{what} refused: {exc}; every change is refused until the policies are fixed "
            "(fail closed)"
        ) from None
    mistaken = typos(question, files)
    if mistaken:
        raise PolicyRefusal(f"{what} refused: {'; '.join(map(str, mistaken))}", decision)
    if not decision.allowed:
        reasons = "; ".join(f"{d.message} ({d.package})" for d in decision.denials)
        raise PolicyRefusal(f"{what} denied by policy: {reasons}", decision)
    return decision


def check(
    state: Path,
    name: str,
    spec: EnvironmentFile,
    app: AppManifest,
    digest: str,
    action: Action,
    actor: str,
    found: Provenance | None = None,
) -> Decision:
    """Ask the repository's policies (the one whose state directory is `state`) about one
    change; PolicyRefusal when they deny it or cannot decide."""
    question = facts(
        name,
        spec,
        app,
        digest,
        found or provenance_of(state, spec, digest),
        action,
        actor,
        time.time(),
    )
    return judge(state.parent, question)
