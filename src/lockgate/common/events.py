"""What every forge event's payload says of who caused it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def sender(payload: Mapping[str, Any]) -> str | None:
    """Who caused the event, as GitHub's `github.actor`: its sender, else its pusher."""
    for field, name in (("sender", "login"), ("pusher", "name"), ("pusher", "username")):
        found = payload.get(field)
        if isinstance(found, Mapping) and isinstance(found.get(name), str) and found[name]:
            return str(found[name])[:255]
    return None
