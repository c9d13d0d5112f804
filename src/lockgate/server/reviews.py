"""Plans on pull requests to the config repository, as Atlantis posts them: a pull request
opened or pushed to is planned (`refs/pull/N/head` against what runs), and the result goes to
the forge as a commit status (`lockgate/plan`) and a comment; merging applies it (the push
wakes the agent)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..common.errors import UserError
from ..deploy.gitops.plan import ConfigPlan
from ..deploy.gitops.source import Unreachable
from .environments import Environments
from .statuses import CONTEXT, Forge, Status, comment_for, request_for, send

PLAN_CONTEXT = f"{CONTEXT}/plan"
ACTIONS = {  # a pull request opened, reopened or pushed to
    "github": ("opened", "reopened", "synchronize"),
    "gitea": ("opened", "reopened", "synchronized"),
}


@dataclass(frozen=True)
class PullRequest:
    repository: str  # owner/name of the repository it is proposed to
    number: int
    sha: str  # its head


def pull_request_of(forge: str, payload: dict[str, Any]) -> PullRequest | None:
    """The pull request a delivery asks to plan (opened, reopened, pushed to); else None."""
    found, repository = payload.get("pull_request"), payload.get("repository")
    if payload.get("action") not in ACTIONS[forge] or not isinstance(found, dict):
        return None
    head = found.get("head")
    number = found.get("number", payload.get("number"))
    sha = head.get("sha") if isinstance(head, dict) else None
    name = repository.get("full_name") if isinstance(repository, dict) else None
    if not (isinstance(number, int) and isinstance(sha, str) and isinstance(name, str)):
        return None
    if not re.fullmatch(r"[0-9a-f]{40,64}", sha) or name.count("/") != 1:
        return None
    return PullRequest(name, number, sha)


def comment(found: ConfigPlan) -> str:
    """The plan as Markdown. Lines come from the config (anyone proposing a change writes
    them): they sit in a fence longer than any run of backticks they hold."""
    lines = found.lines() or ["(nothing to change)"]
    longest = max((len(run) for run in re.findall(r"`+", "\n".join(lines))), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join(
        [
            f"#### lockgate plan at `{found.commit.sha[:12]}`",
            "",
            f"{fence}diff",
            *lines,
            fence,
            "",
            f"**{found.summary()}**. Merging applies it.",
        ]
    )


def review(environments: Environments, forge: Forge, pull: PullRequest, link: str) -> list[str]:
    """Plan the pull request and post the result; what could not be sent."""
    try:
        found = environments.gitops_plan(f"refs/pull/{pull.number}/head")
    except (UserError, Unreachable) as exc:
        said = str(exc).split("\n")[0]
        status = Status("error", link, f"cannot plan: {said}"[:140], PLAN_CONTEXT)
        text = f"#### lockgate could not plan this change\n\n{said}"
    else:
        state = "failure" if found.problems or found.refused else "success"
        status = Status(state, link, found.summary()[:140], PLAN_CONTEXT)
        text = comment(found)
    sent = [
        send(forge, request_for(forge, pull.repository, pull.sha, status)),
        send(forge, comment_for(forge, pull.repository, pull.number, text)),
    ]
    return [s for s in sent if s]
