"""What a worker's pool processes need to reach the server: set once by `lockgate worker`
before Celery forks its pool, so each task process has it without an argument in the broker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WorkerSettings:
    server: str
    token: str
    home: Path
    name: str
    address: str | None = None  # the local address its connections leave from


SETTINGS: list[WorkerSettings] = []  # the one worker of this process, once started
