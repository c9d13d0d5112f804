"""What a forge's delivery asks of the merge queue, as GitHub and Gitea send it: a pull request
enters with the `merge-queue` label or a `/merge` comment, and leaves when the label is taken
off, `/merge cancel` is said, it is closed, or commits are pushed to it (as GitHub's queue
drops a pull request whose head changed).

Only people who may write to the repository queue: a label needs that on both forges; a
comment is taken from GitHub when its `author_association` is OWNER, MEMBER or COLLABORATOR,
and from Gitea when the delivery's `repository.permissions` (Gitea fills them in for the
commenter) include `push`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .pullrequests import PullRequest

QUEUE_LABEL = "merge-queue"
COMMAND = "/merge"
WRITERS = ("OWNER", "MEMBER", "COLLABORATOR")  # GitHub's author_association values
PUSHED = {"github": "synchronize", "gitea": "synchronized"}  # as each spells it


@dataclass(frozen=True)
class Enter:
    number: int
    by: str
    pull: PullRequest | None  # as the delivery has it; None: read it from the forge


@dataclass(frozen=True)
class Leave:
    number: int
    reason: str
    by: str


class NotAllowed(Exception):
    """Someone without write access asked: nothing changes, and the answer says why."""


def _get(payload: Any, *path: str) -> Any:
    for key in path:
        payload = payload.get(key) if isinstance(payload, Mapping) else None
    return payload


def _pull(payload: Mapping[str, Any]) -> PullRequest | None:
    found = payload.get("pull_request")
    number, sha = _get(found, "number"), _get(found, "head", "sha")
    head, base, state = _get(found, "head", "ref"), _get(found, "base", "ref"), _get(found, "state")
    if not (isinstance(number, int) and all(isinstance(v, str) for v in (sha, head, base))):
        return None
    return PullRequest(number, sha, head, base, state == "open")


def _login(payload: Mapping[str, Any], *path: str) -> str:
    login = _get(payload, *path, "login")
    return login if isinstance(login, str) else "someone"


def command_of(forge: str, event: str, payload: Mapping[str, Any]) -> Enter | Leave | None:
    """The merge-queue command in a verified delivery; None when it has none. NotAllowed when
    the person asking may not write to the repository."""
    if event == "pull_request":
        return _pull_request(forge, payload)
    if event == "issue_comment" and payload.get("action") == "created":
        return _comment(forge, payload)
    return None


def _pull_request(forge: str, payload: Mapping[str, Any]) -> Enter | Leave | None:
    action, pull = payload.get("action"), _pull(payload)
    if pull is None:
        return None
    by = _login(payload, "sender")
    if action == "closed":
        return Leave(pull.number, "it was closed", by)
    if action == PUSHED[forge]:
        return Leave(pull.number, "commits were pushed to it: queue it again", by)
    if forge == "github" and action in ("labeled", "unlabeled"):
        if _get(payload, "label", "name") != QUEUE_LABEL:
            return None
        if action == "labeled":
            return Enter(pull.number, by, pull)
        return Leave(pull.number, f"the {QUEUE_LABEL} label was taken off by {by}", by)
    if forge == "gitea" and action == "label_updated":  # Gitea sends the labels it now has
        labels = _get(payload, "pull_request", "labels")
        names = [_get(label, "name") for label in labels] if isinstance(labels, list) else []
        if QUEUE_LABEL in names:
            return Enter(pull.number, by, pull)
        return Leave(pull.number, f"the {QUEUE_LABEL} label was taken off by {by}", by)
    return None


def _comment(forge: str, payload: Mapping[str, Any]) -> Enter | Leave | None:
    body = _get(payload, "comment", "body")
    number = _get(payload, "issue", "number")
    on_pull = (_get(payload, "issue", "pull_request") is not None if forge == "github"
               else payload.get("is_pull") is True)  # fmt: skip
    if not (isinstance(body, str) and isinstance(number, int) and on_pull):
        return None
    said = (body.strip().splitlines() or [""])[0].split()
    if not said or said[0] != COMMAND or said[1:] not in ([], ["cancel"]):
        return None
    by = _login(payload, "comment", "user") if forge == "github" else _login(payload, "sender")
    if forge == "github":
        allowed = _get(payload, "comment", "author_association") in WRITERS
    else:
        allowed = _get(payload, "repository", "permissions", "push") is True
    if not allowed:
        raise NotAllowed(f"{by} may not write to the repository, so cannot use {COMMAND}")
    if said[1:] == ["cancel"]:
        return Leave(number, f"removed by {by} ({COMMAND} cancel)", by)
    return Enter(number, by, None)
