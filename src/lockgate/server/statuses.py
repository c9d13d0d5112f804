"""What lockgate tells the forge: commit statuses (`pending` when a run is taken, then `success`,
`failure` or `error`, each linking to the run; a config plan's result) and pull-request
comments (the plan itself). GitHub and Gitea share the endpoints
`POST /repos/{owner}/{repo}/statuses/{sha}` and `POST /repos/{owner}/{repo}/issues/{n}/comments`
and their bodies; only the API root and the way the token is sent differ. A forge that does not
answer is noted, never a failed run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import httpx

from ..store.queue import Trigger

CONTEXT = "lockgate"


@dataclass(frozen=True)
class Forge:
    kind: str  # github | gitea
    api: str  # https://api.github.com, or https://gitea.example/api/v1
    token: str


@dataclass(frozen=True)
class Status:
    state: str  # pending | success | failure | error
    target_url: str
    description: str
    context: str = CONTEXT


@dataclass(frozen=True)
class ForgeRequest:
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    method: str = "POST"


def state_of(exit_code: int) -> str:
    """`lockgate run` exits 0 when every job passed, 1 when one failed, else it could not run."""
    return {0: "success", 1: "failure"}.get(exit_code, "error")


def headers_of(forge: Forge) -> dict[str, str]:
    if forge.kind == "github":
        return {"Authorization": f"Bearer {forge.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28"}  # fmt: skip
    return {"Authorization": f"token {forge.token}", "Accept": "application/json"}


def request_for(forge: Forge, repository: str, sha: str, status: Status) -> ForgeRequest:
    """The request that sets `status` on commit `sha` of `repository` (owner/name)."""
    url = f"{forge.api.rstrip('/')}/repos/{repository}/statuses/{sha}"
    return ForgeRequest(url, headers_of(forge), asdict(status))


def comment_for(forge: Forge, repository: str, number: int, text: str) -> ForgeRequest:
    """The request that comments `text` (Markdown) on pull request `number`."""
    url = f"{forge.api.rstrip('/')}/repos/{repository}/issues/{number}/comments"
    return ForgeRequest(url, headers_of(forge), {"body": text})


def answer_to(sent: ForgeRequest) -> httpx.Response:
    """The forge's answer; httpx.HTTPError when there is none."""
    return httpx.request(sent.method, sent.url, headers=sent.headers, json=sent.body, timeout=10)


def send(forge: Forge, sent: ForgeRequest) -> str | None:
    """Send it; what went wrong, or None."""
    try:
        answer = answer_to(sent)
    except httpx.HTTPError as exc:
        return f"not sent to {forge.kind}: {exc}"
    if answer.status_code >= 300:
        return f"refused by {forge.kind}: {answer.status_code} {answer.text[:200]}"
    return None


def repository_of(trigger: Trigger) -> str | None:
    """owner/name from the delivery, when it says."""
    found = trigger.payload.get("repository")
    name = found.get("full_name") if isinstance(found, dict) else None
    return name if isinstance(name, str) and name.count("/") == 1 else None


def report(forge: Forge, trigger: Trigger, status: Status) -> str | None:
    """Send it; what went wrong, or None."""
    repository = repository_of(trigger)
    if repository is None:
        return "the delivery names no repository: no status sent"
    failed = send(forge, request_for(forge, repository, trigger.after, status))
    return f"status {failed}" if failed else None
