"""Who is asking: the Unleash context (its standard fields and free-form properties)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STANDARD = {
    "userId": "user_id",
    "sessionId": "session_id",
    "remoteAddress": "remote_address",
    "environment": "environment",
    "appName": "app_name",
    "currentTime": "current_time",
}


@dataclass(frozen=True)
class Context:
    user_id: str | None = None
    session_id: str | None = None
    remote_address: str | None = None
    environment: str | None = None
    app_name: str | None = None
    current_time: str | None = None  # ISO 8601; none: now
    properties: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """A field by its Unleash name (`userId`), else the property of that name."""
        attribute = STANDARD.get(name)
        if attribute is not None:
            found: str | None = getattr(self, attribute)
            if found is not None:
                return found
        return self.properties.get(name)

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> Context:
        """From the JSON shape SDKs and OFREP send: standard fields at the top level, the rest
        under `properties` (OFREP sends them flat: whatever is not standard is a property).
        Values that are not text are read as their text; null as absent."""
        known: dict[str, str] = {}
        properties: dict[str, str] = {}
        for name, value in given.items():
            if name == "properties" and isinstance(value, Mapping):
                properties.update({str(k): _text(v) for k, v in value.items() if v is not None})
            elif value is None:
                continue
            elif name in STANDARD:
                known[STANDARD[name]] = _text(value)
            else:
                properties[str(name)] = _text(value)
        return cls(**known, properties=properties)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
