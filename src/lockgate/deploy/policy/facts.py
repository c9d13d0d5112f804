"""What a policy is asked about: the input document, as typed records.

One `PolicyInput` per decision: the action (deploy, rollback, plan, repair), who asked and
when, the environment, the release (app, labels from its lockgate-app.yaml, digest,
provenance) and where it would run: the regions with their labels and hosts, and where its
audit log is written. `document()` is the JSON a Rego policy reads as `input`.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Action = Literal["deploy", "rollback", "plan", "repair"]


@dataclass(frozen=True)
class Host:
    address: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Region:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    hosts: list[Host] = field(default_factory=list)


@dataclass(frozen=True)
class Provenance:
    verified: bool  # signed, untampered, by a key the environment trusts
    key_id: str | None = None
    source_commit: str | None = None
    problem: str | None = None  # why it did not verify


@dataclass(frozen=True)
class Release:
    app: str
    digest: str
    labels: dict[str, str]
    provenance: Provenance


@dataclass(frozen=True)
class AuditLog:
    region: str
    labels: dict[str, str]  # the region's


@dataclass(frozen=True)
class PolicyInput:
    action: Action
    actor: str
    at: float  # seconds since the epoch
    environment: str
    environment_labels: dict[str, str]
    release: Release
    regions: list[Region]
    audit_log: AuditLog | None

    def document(self) -> dict[str, Any]:
        moment = datetime.datetime.fromtimestamp(self.at, datetime.UTC)
        return {
            "action": self.action,
            "actor": self.actor,
            # +00:00, not Z: rego-cpp's time.parse_rfc3339_ns reads only the former
            "time": moment.isoformat(timespec="seconds"),
            "time_ns": int(self.at * 1e9),
            "environment": {"name": self.environment, "labels": self.environment_labels},
            "release": asdict(self.release),
            "regions": [asdict(r) for r in self.regions],
            "hosts": [{**asdict(h), "region": r.name} for r in self.regions for h in r.hosts],
            "audit_log": asdict(self.audit_log) if self.audit_log else None,
        }
