"""What each deployment shipped, read from git: the commits since the environment's previous
successful deployment (their commit times, for lead time) and whether its commit is a revert."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..store.deployments import Rollout, RolloutStatus
from .dora import Change

FIELD = "\x1f"


def _log(repo: Path, revisions: list[str]) -> list[tuple[float, str]]:
    """(commit time, subject) of the commits in `revisions`; [] when git does not know them."""
    done = subprocess.run(
        ["git", "-C", str(repo), "log", f"--format=%ct{FIELD}%s", *revisions, "--"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return []
    found = []
    for line in done.stdout.splitlines():
        made, _, subject = line.partition(FIELD)
        if made.isdigit():
            found.append((float(made), subject))
    return found


def changes(repo: Path, deployments: Sequence[Rollout]) -> dict[int, Change]:
    """Per successful deployment with a known source commit, what it shipped."""
    found: dict[int, Change] = {}
    last: dict[str, str] = {}  # environment -> the commit it last ran
    for deployment in sorted(deployments, key=lambda d: d.started_at):
        # Built from a dirty tree: its commit still dates the changes it carries.
        commit = (deployment.source_commit or "").removesuffix("-dirty")
        if deployment.status != RolloutStatus.SUCCEEDED or not commit:
            continue
        before = last.get(deployment.environment)
        commits = _log(repo, [f"{before}..{commit}" if before else f"{commit}^!"])
        if commits or before is None:
            head = _log(repo, ["-1", commit])
            revert = bool(head) and head[0][1].startswith('Revert "')
            found[deployment.id] = Change(tuple(t for t, _ in commits), revert)
        last[deployment.environment] = commit
    return found
