"""`lockgate serve` and `lockgate hook install`."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..common.errors import UserError
from ..common.files import private_directory
from ..common.names import checked_name
from ..engine.envfiles import read_secret_file
from ..store.access import Access, Role
from ..store.database import default_url
from ..store.repositories import RepositoryRecords
from .options import DbOpt, open_store, user

HOOK_MARK = "# lockgate: queue a run per pushed ref"
hook_app = typer.Typer(help="Git hooks that trigger runs.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens of `lockgate serve`.", no_args_is_help=True)
HomeOpt = Annotated[
    Path, typer.Option("--home", help="the server's files: secrets, workspaces, database")
]


def store_url(home: Path, db: str | None) -> str:
    """The server's store: --db, else LOCKGATE_DB, else SQLite in its home."""
    return db or default_url(home.resolve())  # (default_url reads LOCKGATE_DB)


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        home: HomeOpt = Path("lockgate-server"),
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port")] = 8000,
        workers: Annotated[int, typer.Option("--workers", help="runs at once", min=0)] = 2,
        interrupted: Annotated[
            str, typer.Option("--interrupted", help="requeue | report: runs a killed server left")
        ] = "requeue",
        public_url: Annotated[
            str | None, typer.Option("--public-url", help="how forges link back to runs")
        ] = None,
        github_api: Annotated[
            str, typer.Option("--github-api", help="for commit statuses (LOCKGATE_GITHUB_TOKEN)")
        ] = "https://api.github.com",
        gitea_api: Annotated[
            str | None,
            typer.Option(
                "--gitea-api", help="e.g. https://gitea.example/api/v1 (LOCKGATE_GITEA_TOKEN)"
            ),
        ] = None,
        deployments: Annotated[
            Path | None,
            typer.Option(
                "--deployments",
                help="the checkout `lockgate deploy` runs in: its environments are shown "
                "and driven (promote, abort, rollback, deploy)",
            ),
        ] = None,
        secret_file: Annotated[
            Path | None,
            typer.Option(
                "--secret-file",
                help="NAME=value lines given to every run as secrets (masked in logs, the UI "
                "and the API)",
            ),
        ] = None,
        merge_depth: Annotated[
            int,
            typer.Option(
                "--merge-depth",
                min=1,
                max=20,
                help="changes of a merge queue tested at once, each on the one ahead",
            ),
        ] = 2,
        broker: Annotated[
            str | None,
            typer.Option(
                "--broker",
                help="send jobs to `lockgate worker`s through this Celery broker (e.g. "
                "redis://host:6379/0); without it every job runs on this machine",
            ),
        ] = None,
        lost_after: Annotated[
            float,
            typer.Option(
                "--lost-after",
                min=2.0,
                max=3600.0,
                help="seconds without a word from a worker running a job before the job is "
                "sent to another worker, or from a server (on another machine sharing the "
                "store) running a run before another takes the run over (or reports it, as "
                "--interrupted says)",
            ),
        ] = 15.0,
        db: DbOpt = None,
    ) -> None:
        """Receive webhooks and git hooks, queue runs durably, run them, and report each
        run's status to its commit on GitHub or Gitea when a token is set.

        Example: lockgate serve --port 8000 --workers 2
        """
        from ..server.serve import forges  # FastAPI, uvicorn load only here
        from ..server.serve import serve as start

        if interrupted not in ("requeue", "report"):
            raise UserError(f"{interrupted!r} is not requeue or report", where="--interrupted")
        home = home.resolve()
        private_directory(home, "--home")  # 0700; refused when others can write it
        url = store_url(home, db)
        reporting = forges(github_api, gitea_api)
        if deployments is not None and not deployments.is_dir():
            raise UserError(f"{deployments} is not a directory", where="--deployments")
        if broker is not None:
            from ..runners.brokers import checked_broker

            checked_broker(broker, "--broker")
        if secret_file is not None:
            secret_file = secret_file.resolve()
            read_secret_file(secret_file)  # refused now rather than by every run
        start(home, url, host, port, workers, interrupted == "requeue", reporting, public_url,
              deployments.resolve() if deployments else None, secret_file, merge_depth,
              broker, lost_after)  # fmt: skip

    app.add_typer(hook_app, name="hook")
    app.add_typer(token_app, name="token")


def _access(home: Path, db: str | None) -> Access:
    return Access(open_store(db, home))


@token_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="who or what uses it")],
    role: Annotated[
        str, typer.Option("--role", help="viewer | operator | admin | worker")
    ] = "viewer",
    home: HomeOpt = Path("lockgate-server"),
    db: DbOpt = None,
) -> None:
    """Make an API token; it is printed once, and only its digest is kept.

    Example: lockgate token create ci-bot --role operator
    """
    try:
        chosen = Role[role.upper()]
    except KeyError:
        raise UserError(f"{role!r} is not a role", where="--role",
                        hint="viewer, operator or admin") from None  # fmt: skip
    print(_access(home, db).create(name, chosen))


@token_app.command("list")
def listed(home: HomeOpt = Path("lockgate-server"), db: DbOpt = None) -> None:
    """The tokens' names and roles (never the tokens)."""
    for token in _access(home, db).tokens():
        print(f"{token.name}\t{token.role.name.lower()}")


@token_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument()],
    home: HomeOpt = Path("lockgate-server"),
    db: DbOpt = None,
) -> None:
    """Revoke a token at once."""
    if not _access(home, db).revoke(name):
        raise UserError(f"no token named {name!r}", hint="lockgate token list")
    print(f"revoked {name}")


def guard_branches(bare: Path, branches: list[str]) -> None:
    """A pre-receive hook refusing pushes that update `branches` (the merge queue moves them
    with update-ref, which runs no hook)."""
    hook = bare / "hooks" / "pre-receive"
    if hook.exists() and HOOK_MARK not in hook.read_text(errors="replace"):
        raise UserError(f"{hook} exists and is not lockgate's", hint="merge it by hand")
    for branch in branches:
        checked_name(branch.replace("/", "-"), "branch", "--protect")
    cases = "".join(
        f'    refs/heads/{branch})\n      echo "lockgate: {branch} is protected: add your branch '
        f'to the merge queue (lockgate queue add BRANCH)" >&2\n      exit 1 ;;\n'
        for branch in branches
    )
    loop = f'while read old new ref; do\n  case "$ref" in\n{cases}  esac\ndone\n'
    hook.write_text(f"#!/bin/sh\n{HOOK_MARK} (lockgate hook install --protect)\n{loop}")
    hook.chmod(0o755)


@hook_app.command("install")
def install(
    repository: Annotated[Path, typer.Argument(help="a bare git repository")],
    server: Annotated[str, typer.Option("--server", help="the server's URL")],
    token_file: Annotated[
        Path, typer.Option("--token-file", help="the server's hook-token file")
    ] = Path("lockgate-server/hook-token"),
    url: Annotated[
        str | None, typer.Option("--url", help="where the server fetches from (default: path)")
    ] = None,
    protect: Annotated[
        list[str],
        typer.Option("--protect", help="a branch only the merge queue moves: pushes refused"),
    ] = [],  # noqa: B006
    db: DbOpt = None,
) -> None:
    """Install a post-receive hook that queues a run for every pushed ref, and register the
    repository with the server whose --home holds the token file. With --protect, a
    pre-receive hook refuses pushes to those branches: only the merge queue moves them.

    Example: lockgate hook install /srv/git/app.git --server http://127.0.0.1:8000 --protect main
    """
    bare = repository.resolve()
    if not (bare / "HEAD").is_file() or not (bare / "objects").is_dir():
        raise UserError(f"{repository} is not a bare git repository", where="REPOSITORY")
    if not token_file.is_file():
        raise UserError(
            f"{token_file} does not exist",
            where="--token-file",
            hint="`lockgate serve` writes it into its --home on first start",
        )
    hook = bare / "hooks" / "post-receive"
    if hook.exists() and HOOK_MARK not in hook.read_text(errors="replace"):
        raise UserError(f"{hook} exists and is not lockgate's", hint="merge it by hand")
    kept = bare / "hooks" / "lockgate-token"
    descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token_file.read_text())
    command = [sys.executable, "-m", "lockgate.server.hookclient", server, url or str(bare),
               str(kept)]  # fmt: skip
    hook.parent.mkdir(exist_ok=True)
    script = f"#!/bin/sh\n{HOOK_MARK} (lockgate hook install)\nexec {shlex.join(command)}\n"
    hook.write_text(script)
    hook.chmod(0o755)
    if protect:
        guard_branches(bare, protect)
    from ..server.gitpush import remember_hooked  # the server's modules load only here
    from ..server.repositories import register

    home = token_file.resolve().parent
    known = RepositoryRecords(open_store(db, home))
    if known.matching(url or str(bare)) is None:
        register(known, home, url or str(bare), "git", user())
    remember_hooked(home, bare)  # its start delivers what was spooled
    Console(highlight=False).print(f"installed {escape(str(hook))}: pushes queue runs on {server}")
