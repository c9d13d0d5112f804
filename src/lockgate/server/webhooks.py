"""Webhooks from GitHub, Gitea/Forgejo and GitLab, turned into Triggers.

The signature is checked, in constant time, before the body is parsed: GitHub and Gitea sign
the body with HMAC-SHA256 (`X-Hub-Signature-256: sha256=<hex>`, `X-Gitea-Signature: <hex>`);
GitLab sends the shared token itself (`X-Gitlab-Token`). A delivery that does not ask for a
run (a ping, a branch deleted, a pull request closed) is accepted with nothing queued.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from ..store.queue import Trigger

ZERO = "0" * 40
# The pull request actions that bring new code, as each forge spells them, with GitHub's
# name for each: Gitea says `synchronized` (modules/structs/hook.go) where GitHub says
# `synchronize`, and a run sees GitHub's, so `types:` filters mean the same on both.
PR_ACTIONS = {
    "github": {"opened": "opened", "synchronize": "synchronize", "reopened": "reopened"},
    "gitea": {"opened": "opened", "synchronized": "synchronize", "reopened": "reopened"},
}
MR_ACTIONS = ("open", "update", "reopen")  # GitLab


class Unauthorized(Exception):
    """A missing or wrong signature: 401, nothing parsed, nothing queued."""


class BadDelivery(Exception):
    """A payload that cannot be a delivery of this forge: 400 with the reason."""


def verify(forge: str, secret: bytes, headers: Mapping[str, str], body: bytes) -> None:
    if forge == "gitlab":
        token = headers.get("x-gitlab-token", "").encode()
        if not hmac.compare_digest(token, secret):
            raise Unauthorized("X-Gitlab-Token is missing or wrong")
        return
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if forge == "github":
        given = headers.get("x-hub-signature-256", "").removeprefix("sha256=")
        header = "X-Hub-Signature-256"
    else:
        given = headers.get("x-gitea-signature") or headers.get("x-forgejo-signature", "")
        header = "X-Gitea-Signature"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized(f"{header} is missing or does not match the body")


def repository_of(forge: str, body: bytes) -> tuple[str, str | None]:
    """(clone URL, owner/name) the delivery says it is about, read before its signature is
    checked only to choose the registration whose secret checks it; ("", None) when the body
    does not say."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "", None
    about = payload.get("project" if forge == "gitlab" else "repository") if isinstance(
        payload, dict) else None  # fmt: skip
    if not isinstance(about, dict):
        return "", None
    clone = about.get("git_http_url" if forge == "gitlab" else "clone_url")
    name = about.get("path_with_namespace" if forge == "gitlab" else "full_name")
    return (clone if isinstance(clone, str) else ""), (name if isinstance(name, str) else None)


def _object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadDelivery(f"the body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadDelivery("the body is not a JSON object")
    return payload


def _field(payload: Mapping[str, Any], *path: str) -> str:
    value: Any = payload
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise BadDelivery(f"the payload has no {'.'.join(path)}")
        value = value[key]
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadDelivery(f"{'.'.join(path)} is not a string")
    return str(value)


def _push(
    source: str, delivery: str, payload: Mapping[str, Any], *clone_url: str
) -> Trigger | None:
    """A pushed branch or tag; None when it was deleted (nothing to run)."""
    after = _field(payload, "after")
    if after == ZERO or payload.get("deleted") is True:
        return None
    return Trigger(
        source=source,
        delivery=delivery,
        event="push",
        repository=_field(payload, *clone_url),
        ref=_field(payload, "ref"),
        after=after,
        before=_field(payload, "before"),
        payload=dict(payload),
    )


def event_of(forge: str, headers: Mapping[str, str]) -> str:
    """The event a GitHub or Gitea (Forgejo) delivery is of; "" when it does not say."""
    prefix = "x-github" if forge == "github" else "x-gitea"
    return headers.get(f"{prefix}-event") or headers.get("x-forgejo-event", "")


def payload_of(body: bytes) -> dict[str, Any]:
    """The verified body as a JSON object; BadDelivery when it is not one."""
    return _object(body)


def parse(forge: str, headers: Mapping[str, str], body: bytes) -> Trigger | None:
    """The trigger a verified delivery asks for; None when it asks for no run."""
    payload = _object(body)
    if forge == "gitlab":
        return _gitlab(headers, payload)
    prefix = "x-github" if forge == "github" else "x-gitea"
    event = event_of(forge, headers)
    delivery = headers.get(f"{prefix}-delivery") or headers.get("x-forgejo-delivery", "")
    if not event or not delivery:
        raise BadDelivery(f"the {prefix}-event and {prefix}-delivery headers are required")
    delivery = f"{forge}:{delivery}"
    if event == "push":
        return _push(forge, delivery, payload, "repository", "clone_url")
    if event == "pull_request":
        action = PR_ACTIONS[forge].get(str(payload.get("action")))
        if action is None:
            return None  # closed, labeled, edited...: no new code
        number = _field(payload, "number")
        return Trigger(
            source=forge,
            delivery=delivery,
            event="pull_request",
            repository=_field(payload, "pull_request", "head", "repo", "clone_url"),
            ref=f"refs/pull/{number}/head",
            after=_field(payload, "pull_request", "head", "sha"),
            before=_field(payload, "pull_request", "base", "sha"),
            payload={**payload, "action": action},
        )
    if event == "workflow_dispatch":
        ref = _field(payload, "ref")
        repository = _field(payload, "repository", "clone_url")
        return Trigger(forge, delivery, "workflow_dispatch", repository, ref, ref, None, payload)
    return None  # ping, and events lockgate does not run on


def _gitlab(headers: Mapping[str, str], payload: Mapping[str, Any]) -> Trigger | None:
    event = headers.get("x-gitlab-event", "")
    uuid = headers.get("x-gitlab-event-uuid") or headers.get("idempotency-key", "")
    if not event or not uuid:
        raise BadDelivery("the X-Gitlab-Event and X-Gitlab-Event-UUID headers are required")
    delivery = f"gitlab:{uuid}"
    if event in ("Push Hook", "Tag Push Hook"):
        return _push("gitlab", delivery, payload, "project", "git_http_url")
    if event == "Merge Request Hook":
        attributes = payload.get("object_attributes")
        if not isinstance(attributes, Mapping) or attributes.get("action") not in MR_ACTIONS:
            return None
        if attributes.get("action") == "update" and not attributes.get("oldrev"):
            return None  # an edit of the title or labels: GitLab sends oldrev only for pushes
        iid = _field(payload, "object_attributes", "iid")
        return Trigger(
            source="gitlab",
            delivery=delivery,
            event="pull_request",
            repository=_field(payload, "object_attributes", "source", "git_http_url"),
            ref=f"refs/merge-requests/{iid}/head",
            after=_field(payload, "object_attributes", "last_commit", "id"),
            payload=dict(payload),
        )
    return None
