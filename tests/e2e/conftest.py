"""Fixtures of the end-to-end tests (the shared helpers are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .fleet import fleet_repo, teardown


@pytest.fixture
def fleets(tmp_path: Path) -> Iterator[Callable[..., tuple[Path, int]]]:
    """`fleet_repo` (fleet.py) whose agent, instances and router are stopped after the
    test, whatever it did."""
    made: list[Path] = []

    def make(replicas: int, strategy: str, **extra: object) -> tuple[Path, int]:
        repo, port = fleet_repo(tmp_path, replicas, strategy, **extra)
        made.append(repo)
        return repo, port

    yield make
    for repo in made:
        teardown(repo)
