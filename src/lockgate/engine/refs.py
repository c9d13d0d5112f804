"""The ref a run is for, as GitHub's runner names it (GITHUB_REF, GITHUB_REF_NAME,
GITHUB_REF_TYPE, GITHUB_HEAD_REF, GITHUB_BASE_REF), from the event and its payload:

- push: the pushed ref (`refs/heads/main`, `refs/tags/v1`);
- pull_request: `refs/pull/N/merge` (name `N/merge`), head and base from the pull request;
- pull_request_target: the base branch;
- workflow_dispatch and the rest: the payload's `ref`, else the checkout's branch.

Without a payload (a local run) it is the checkout's branch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GitRef:
    ref: str
    head_ref: str = ""
    base_ref: str = ""

    @property
    def name(self) -> str:
        for prefix in ("refs/heads/", "refs/tags/", "refs/pull/"):
            if self.ref.startswith(prefix):
                return self.ref.removeprefix(prefix)
        return self.ref

    @property
    def type(self) -> str:
        return "tag" if self.ref.startswith("refs/tags/") else "branch"

    @property
    def filtered(self) -> str:
        """The ref `on:` branch and tag filters look at: a pull request's base branch."""
        return f"refs/heads/{self.base_ref}" if self.base_ref else self.ref


def ref_of(event: str, payload: Mapping[str, Any], branch: str) -> GitRef:
    pull = payload.get("pull_request")
    if event.startswith("pull_request") and isinstance(pull, Mapping):
        head, base = _branch(pull, "head"), _branch(pull, "base")
        number = payload.get("number", pull.get("number"))
        if event == "pull_request_target":
            return GitRef(f"refs/heads/{base}", head, base)
        return GitRef(f"refs/pull/{number}/merge", head, base)
    group = payload.get("merge_group")
    if event == "merge_group" and isinstance(group, Mapping):
        # GitHub's: the queue's branch, filtered by the branch it goes into
        base = str(group.get("base_ref", "")).removeprefix("refs/heads/")
        return GitRef(str(group.get("head_ref", "")), base_ref=base)
    given = payload.get("ref")
    if isinstance(given, str) and given:
        return GitRef(given if given.startswith("refs/") else f"refs/heads/{given}")
    return GitRef(f"refs/heads/{branch}")


def _branch(pull: Mapping[str, Any], side: str) -> str:
    found = pull.get(side)
    ref = found.get("ref") if isinstance(found, Mapping) else None
    return str(ref) if isinstance(ref, str) else ""
