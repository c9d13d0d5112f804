"""The `github` context as a typed record, and the one place it becomes a step's GITHUB_* and
RUNNER_* environment variables (as GitHub's runner sets them)."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..workflow.expressions import Value
from .refs import GitRef

ARCH = {"x86_64": "X64", "amd64": "X64", "aarch64": "ARM64", "arm64": "ARM64"}.get(
    platform.machine().lower(), platform.machine().upper()
)
RUNNER_NAME = "lockgate-local"
SERVER_URL, API_URL = "https://github.com", "https://api.github.com"


@dataclass(frozen=True)
class GitHubContext:
    event_name: str
    sha: str
    ref: GitRef
    repository: str  # owner/name
    repository_url: str
    actor: str
    workflow: str  # its name (or its file)
    workflow_ref: str  # owner/name/.github/workflows/x.yml@refs/heads/main
    run_id: str
    token: str = ""
    job: str = ""
    workspace: str = ""
    action_path: str | None = None  # inside an action: its directory
    event: dict[str, Any] = field(default_factory=dict)

    @property
    def repository_owner(self) -> str:
        return self.repository.split("/")[0]

    def within(
        self, job: str = "", workspace: str = "", action_path: str | None = None
    ) -> GitHubContext:
        """The context of a job (its id and workspace kept when not given) and, inside an
        action, of that action's directory."""
        return replace(
            self,
            job=job or self.job,
            workspace=workspace or self.workspace,
            action_path=action_path,
        )

    def as_context(self) -> dict[str, Value]:
        """What `${{ github.* }}` sees."""
        found: dict[str, Value] = {
            "event_name": self.event_name,
            "event": self.event,
            "sha": self.sha,
            "ref": self.ref.ref,
            "ref_name": self.ref.name,
            "ref_type": self.ref.type,
            "ref_protected": False,
            "head_ref": self.ref.head_ref,
            "base_ref": self.ref.base_ref,
            "repository": self.repository,
            "repository_owner": self.repository_owner,
            "repositoryUrl": self.repository_url,
            "actor": self.actor,
            "triggering_actor": self.actor,
            "workflow": self.workflow,
            "workflow_ref": self.workflow_ref,
            "run_id": self.run_id,
            "run_number": self.run_id,
            "run_attempt": "1",
            "retention_days": "90",
            "server_url": SERVER_URL,
            "api_url": API_URL,
            "graphql_url": f"{API_URL}/graphql",
            "job": self.job,
            "action": "",
            "token": self.token,
            "workspace": self.workspace,
        }
        if self.action_path is not None:
            found["action_path"] = self.action_path
        return found

    def environment(
        self, *, event_path: Path, action: str, temp: Path, tool_cache: Path, uses: str = ""
    ) -> dict[str, str]:
        """The GITHUB_* and RUNNER_* variables of a step (`action`: GITHUB_ACTION, `uses`: the
        action running, as written, inside one)."""
        env = {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": self.workspace,
            "GITHUB_SHA": self.sha,
            "GITHUB_REF": self.ref.ref,
            "GITHUB_REF_NAME": self.ref.name,
            "GITHUB_REF_TYPE": self.ref.type,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REPOSITORY_OWNER": self.repository_owner,
            "GITHUB_ACTOR": self.actor,
            "GITHUB_TRIGGERING_ACTOR": self.actor,
            "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_JOB": self.job,
            "GITHUB_RUN_ID": self.run_id,
            "GITHUB_RUN_NUMBER": self.run_id,
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_WORKFLOW": self.workflow,
            "GITHUB_WORKFLOW_REF": self.workflow_ref,
            "GITHUB_SERVER_URL": SERVER_URL,
            "GITHUB_API_URL": API_URL,
            "GITHUB_GRAPHQL_URL": f"{API_URL}/graphql",
            "GITHUB_HEAD_REF": self.ref.head_ref,
            "GITHUB_BASE_REF": self.ref.base_ref,
            "GITHUB_RETENTION_DAYS": "90",
            "GITHUB_ACTION": action,
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": ARCH,
            "RUNNER_NAME": RUNNER_NAME,
            "RUNNER_ENVIRONMENT": "self-hosted",
            "RUNNER_TEMP": str(temp),
            "RUNNER_TOOL_CACHE": str(tool_cache),
        }
        if self.action_path is not None:
            env["GITHUB_ACTION_PATH"] = self.action_path
            remote = "" if uses.startswith("./") else uses
            repository, _, ref = remote.partition("@")
            env["GITHUB_ACTION_REPOSITORY"] = "/".join(repository.split("/")[:2])
            env["GITHUB_ACTION_REF"] = ref
        return env


def runner_context(temp: Path, tool_cache: Path) -> dict[str, Value]:
    """What `${{ runner.* }}` sees."""
    return {
        "name": RUNNER_NAME,
        "os": "Linux",
        "arch": ARCH,
        "temp": str(temp),
        "tool_cache": str(tool_cache),
        "debug": "",
        "environment": "self-hosted",
    }
