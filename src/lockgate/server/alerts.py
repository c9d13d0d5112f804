"""Incidents from alerts: Prometheus Alertmanager's webhook (`webhook_configs`, payload version
4) opens an incident when an alert fires and resolves it when the alert resolves, so DORA's
change failure rate and recovery time follow what production monitoring saw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class BadAlert(ValueError):
    """Not an Alertmanager webhook payload; says what is wrong."""


@dataclass(frozen=True)
class AlertChange:
    environment: str
    title: str
    firing: bool


def changes(payload: Any, environment: str | None) -> list[AlertChange]:
    """What each alert of the delivery says. An alert's environment is its `environment`
    label, else the `environment` the webhook URL names."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise BadAlert("not an Alertmanager webhook payload: it has no `alerts` list")
    found = []
    for number, alert in enumerate(payload["alerts"]):
        labels = alert.get("labels") if isinstance(alert, dict) else None
        if not isinstance(labels, dict) or not isinstance(labels.get("alertname"), str):
            raise BadAlert(f"alerts[{number}] has no labels.alertname")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise BadAlert(f"alerts[{number}].status is {status!r}, not firing or resolved")
        where = labels.get("environment") or environment
        if not isinstance(where, str) or not where:
            raise BadAlert(
                f"alerts[{number}] names no environment: give it an `environment` label, "
                "or add ?environment=NAME to the webhook URL"
            )
        summary = (alert.get("annotations") or {}).get("summary")
        title = labels["alertname"] + (f": {summary}" if isinstance(summary, str) else "")
        found.append(AlertChange(where, title[:500], status == "firing"))
    return found
