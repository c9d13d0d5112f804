"""`lockgate protect ENV | protections`, the rules jobs naming a protected environment obey on
the server (reviewers, a wait, the branches that may deploy, its own secrets and variables),
and `lockgate approve RUN`, a reviewer's approval (or `--reject`) of a run's held jobs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from ..common.errors import UserError
from ..store.protections import ProtectionRecord, ProtectionRecords
from ..workflow.project import parse_duration
from .options import DbOpt, open_store, user

HomeOpt = Annotated[Path, typer.Option("--home", help="the server's home")]


def protect(
    environment: Annotated[str, typer.Argument(help="the name jobs give in `environment:`")],
    reviewer: Annotated[
        list[str], typer.Option("--reviewer", help="a token's name that may approve (repeat)")
    ] = [],  # noqa: B006
    wait: Annotated[str, typer.Option("--wait", help="before its jobs start: 30s, 5m, 2h")] = "0s",
    branch: Annotated[
        list[str], typer.Option("--branch", help="a branch or tag pattern that may deploy")
    ] = [],  # noqa: B006
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="NAME=value lines: its jobs' secrets")
    ] = None,
    var: Annotated[list[str], typer.Option("--var", help="K=V: its jobs' vars")] = [],  # noqa: B006
    remove: Annotated[bool, typer.Option("--remove", help="protect it no longer")] = False,
    home: HomeOpt = Path("lockgate-server"),
    db: DbOpt = None,
) -> None:
    """Protect ENVIRONMENT on the server: a workflow job naming it waits for one of the
    reviewers (never the person who triggered the run), then the wait, and deploys only from
    the branches given; its secrets and vars reach its jobs alone.

    Example: lockgate protect production --reviewer alice --reviewer bob --wait 5m --branch main
    """
    from ..engine.envfiles import read_secret_file
    from ..server.holds import checked, keep_secrets  # the server's modules load only here

    records = ProtectionRecords(open_store(db, home.resolve()))
    if remove:
        if not records.remove(environment):
            raise UserError(f"{environment} is not protected", where="ENVIRONMENT")
        print(f"{environment} is no longer protected")
        return
    pairs = dict(item.partition("=")[::2] for item in var)
    if any(not key for key in pairs):
        raise UserError("give --var as KEY=VALUE", where="--var")
    secrets = read_secret_file(secret_file) if secret_file else None
    before = records.get(environment)
    try:
        seconds = int(parse_duration(wait))
    except ValueError as exc:
        raise UserError(str(exc), where="--wait") from None
    record = checked(ProtectionRecord(
        environment, tuple(reviewer), seconds, tuple(branch), pairs,
        bool(secrets) or (before.has_secrets if before else False), user(), time.time(),
    ))  # fmt: skip
    if secrets:
        keep_secrets(home.resolve(), environment, secret_file.read_text())  # type: ignore[union-attr]
    records.put(record)
    print(f"{environment} is protected: {describe(record)}")


def describe(record: ProtectionRecord) -> str:
    said = [f"reviewed by {' or '.join(record.reviewers)}"] if record.reviewers else []
    if record.wait_seconds:
        said.append(f"waits {record.wait_seconds}s")
    if record.branches:
        said.append(f"deploys from {', '.join(record.branches)} only")
    if record.has_secrets or record.vars:
        said.append(f"secrets: {'yes' if record.has_secrets else 'none'}, vars: "
                    f"{', '.join(record.vars) or 'none'}")  # fmt: skip
    return "; ".join(said)


def protections(home: HomeOpt = Path("lockgate-server"), db: DbOpt = None) -> None:
    """The protected environments and their rules."""
    for record in ProtectionRecords(open_store(db, home.resolve())).all():
        print(f"{record.environment}\t{describe(record)}")


def approve(
    run: Annotated[int, typer.Argument(help="the run whose held jobs you review")],
    environment: Annotated[
        str | None, typer.Option("--environment", help="which one, when several wait")
    ] = None,
    reject: Annotated[bool, typer.Option("--reject", help="reject instead")] = False,
    comment: Annotated[str, typer.Option("--comment", help="said with the decision")] = "",
    server: Annotated[
        str, typer.Option("--server", envvar="LOCKGATE_SERVER", help="the server's URL")
    ] = "http://127.0.0.1:8000",
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="your token (else $LOCKGATE_TOKEN)")
    ] = None,
) -> None:
    """Approve (or --reject) a run's jobs held by a protected environment, as a reviewer.

    Example: lockgate approve 42 --server https://ci.example.com --token-file ~/.lockgate-token
    """
    import httpx

    token = token_file.read_text().strip() if token_file else os.environ.get("LOCKGATE_TOKEN")
    if not token:
        raise UserError("no token: give --token-file, or set LOCKGATE_TOKEN", where="--token-file")
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{server.rstrip('/')}/api/v1/runs/{run}/reviews"
    try:
        with httpx.Client(headers=headers, timeout=30) as client:
            waiting = [
                r
                for r in client.get(base).raise_for_status().json()
                if r["state"] == "waiting" and environment in (None, r["environment"])
            ]
            if len(waiting) != 1:
                names = ", ".join(r["environment"] for r in waiting) or "none"
                raise UserError(f"run {run} has {len(waiting)} environments waiting ({names})",
                                hint="name one with --environment")  # fmt: skip
            answer = client.post(f"{base}/{waiting[0]['id']}",
                                 json={"approve": not reject, "comment": comment})  # fmt: skip
    except httpx.HTTPError as exc:
        raise UserError(f"cannot reach {server}: {exc}", where="--server") from None
    if answer.status_code != 200:
        json_answer = answer.headers.get("content-type", "").startswith("application/json")
        detail = answer.json().get("detail") if json_answer else answer.text
        raise UserError(f"{answer.status_code}: {detail}", where=f"run {run}")
    decided = answer.json()
    queued = decided.get("continued_as")
    going = f"; goes on in queued run {queued}" if queued else ""
    print(f"{decided['environment']} {decided['state']} by {decided['decided_by']}{going}")
