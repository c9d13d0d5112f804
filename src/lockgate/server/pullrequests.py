"""A forge's pull requests, as the merge queue needs them: read one, move its base branch to a
tested merge commit, and say so on it.

GitHub moves a branch through its REST API (`PATCH /repos/{owner}/{repo}/git/refs/heads/{b}`
with `force: false`: a fast-forward, else 422) and marks a pull request merged by itself once
its head is on the base. Gitea's API cannot move a branch, so the commit is pushed there
(`--force-with-lease` on the tip it was built on: a compare-and-swap) and the pull request
marked with `POST /repos/{owner}/{repo}/pulls/{index}/merge`, `Do: manually-merged`. Git
pushes and fetches carry the token in a header given through the environment, never in a URL
or an argument another user could read."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from .statuses import Forge, ForgeRequest, answer_to, headers_of, send

QUEUE_CONTEXT = "lockgate/merge-queue"  # the status a branch rule can require


class ForgeTrouble(Exception):
    """The forge did not answer as it should: this pass of the lane stops, the next tries again."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    open: bool


def _api(forge: Forge, full_name: str, path: str) -> str:
    return f"{forge.api.rstrip('/')}/repos/{full_name}/{path}"


def pull_of(forge: Forge, full_name: str, number: int) -> PullRequest | None:
    """The pull request, as the forge has it now; None when it has no such pull request."""
    url = _api(forge, full_name, f"pulls/{number}")
    try:
        answer = httpx.get(url, headers=headers_of(forge), timeout=10)
    except httpx.HTTPError as exc:
        raise ForgeTrouble(f"{forge.kind} did not answer: {exc}") from None
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise ForgeTrouble(f"{forge.kind} answered {answer.status_code}: {answer.text[:200]}")
    try:
        found = answer.json()
        return PullRequest(int(found["number"]), str(found["head"]["sha"]),
                           str(found["head"]["ref"]), str(found["base"]["ref"]),
                           found["state"] == "open")  # fmt: skip
    except (ValueError, KeyError, TypeError):
        raise ForgeTrouble(f"{forge.kind}'s pull request {number} is not as documented") from None


def move_request(forge: Forge, full_name: str, branch: str, sha: str) -> ForgeRequest:
    """GitHub: fast-forward `branch` to `sha`, or be refused (422)."""
    url = _api(forge, full_name, f"git/refs/heads/{branch}")
    return ForgeRequest(url, headers_of(forge), {"sha": sha, "force": False}, "PATCH")


def merged_request(forge: Forge, full_name: str, number: int, sha: str) -> ForgeRequest:
    """Gitea: pull request `number` was merged as commit `sha` (pushed by the queue)."""
    url = _api(forge, full_name, f"pulls/{number}/merge")
    return ForgeRequest(url, headers_of(forge), {"Do": "manually-merged", "MergeCommitID": sha})


def git_env(forge: Forge) -> dict[str, str]:
    """git's environment for talking to the forge: its token as an HTTP header."""
    if forge.kind == "github":
        basic = base64.b64encode(f"x-access-token:{forge.token}".encode()).decode()
        header = f"Authorization: Basic {basic}"
    else:
        header = f"Authorization: token {forge.token}"
    return {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": "file:https:http:ssh:git",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": header,
    }


def git_with(forge: Forge, where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                          env=git_env(forge), timeout=300, check=False)  # fmt: skip


def move(forge: Forge, full_name: str, mirror: Path, url: str, pull: int, target: str,
         sha: str, expected: str) -> bool:  # fmt: skip
    """Move `target` on the forge from `expected` to `sha`, and say pull request `pull` merged;
    False when the target was no longer at `expected` (nothing moved)."""
    if forge.kind == "github":
        answer = _sent(forge, move_request(forge, full_name, target, sha))
        if answer.status_code == 422:  # "Update is not a fast forward": it moved meanwhile
            return False
        if answer.status_code >= 300:
            raise ForgeTrouble(f"github refused to move {target}: {answer.status_code} "
                               f"{answer.text[:200]}")  # fmt: skip
        return True
    lease = f"--force-with-lease=refs/heads/{target}:{expected}"
    refspec = f"{sha}:refs/heads/{target}"
    pushed = git_with(forge, mirror, "push", "--porcelain", lease, url, refspec)
    if pushed.returncode != 0:
        if "stale info" in pushed.stdout + pushed.stderr or "[rejected]" in pushed.stdout:
            return False
        raise ForgeTrouble(f"git push to {forge.kind}: {pushed.stderr.strip()[-300:]}")
    failed = send(forge, merged_request(forge, full_name, pull, sha))
    if failed:  # the branch moved: the pull request only lacks its mark
        print(f"merge queue: {full_name}#{pull} merged as {sha[:12]}, but {failed}", flush=True)
    return True


def _sent(forge: Forge, request: ForgeRequest) -> httpx.Response:
    try:
        return answer_to(request)
    except httpx.HTTPError as exc:
        raise ForgeTrouble(f"{forge.kind} did not answer: {exc}") from None
