"""Where instances run: one module per kind of target, each a targets.base.Target, chosen here."""

from __future__ import annotations

from pathlib import Path

from ..envfile import TargetSpec
from .base import Target
from .local import LocalTarget


def target_for(spec: TargetSpec, directory: Path, environment: str) -> Target:
    """The target an environment file names (`target: type:`); a local one keeps its files in
    `directory`, an SSH one under each host's base directory."""
    if spec.type == "ssh":
        from .ssh import SSHTarget  # asyncssh: imported by the fleets that use it only

        return SSHTarget(spec, environment)
    return LocalTarget(directory)
