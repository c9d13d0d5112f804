"""`lockgate artifact build | verify`: bundles with signed provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..artifacts import signed
from ..artifacts.provenance import ProvenanceError
from ..common.errors import UserError
from ..common.statedir import state_dir
from .options import OutputOpt, RepoOpt

app = typer.Typer(help="Application bundles with signed provenance.", no_args_is_help=True)


@app.command("build")
def build(
    directory: Annotated[Path, typer.Argument(help="application directory with lockgate-app.yaml")],
    repo: RepoOpt = Path("."),
    key: Annotated[
        Path | None,
        typer.Option("--key", help="ed25519 PEM key (default: .lockgate/keys/, made if missing)"),
    ] = None,
    output: OutputOpt = "plain",
) -> None:
    """Pack DIR reproducibly, store it by digest and sign its provenance.

    Example: lockgate artifact build examples/app
    """
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory", where="DIR")
    bundle = signed.build_signed(directory, state_dir(repo.resolve()), key)
    result = {
        "digest": bundle.digest,
        "app": bundle.manifest.name,
        "bundle": str(bundle.path),
        "provenance": str(bundle.provenance_path),
    }
    if output == "json":
        print(json.dumps(result, indent=2))
        return
    print(f"{bundle.digest}  {bundle.manifest.name}")
    where = f"bundle {bundle.path}\nprovenance {bundle.provenance_path}"
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[dim]{escape(where)}[/]")


@app.command("verify")
def verify(
    digest: Annotated[str, typer.Argument(help="bundle digest (12+ hex characters)")],
    repo: RepoOpt = Path("."),
    trusted_key: Annotated[
        list[Path],
        typer.Option("--trusted-key", help="ed25519 public key PEM (default: the local key)"),
    ] = [],  # noqa: B006
    output: OutputOpt = "plain",
) -> None:
    """Check a stored bundle's digest, provenance subject and signature.

    Example: lockgate artifact verify 3f2a9c01b7de --trusted-key team.pub.pem
    """
    try:
        verified = signed.verify_stored(digest, state_dir(repo.resolve()), trusted_key)
    except ProvenanceError as exc:
        if output == "json":
            print(json.dumps({"verified": False, "reason": str(exc)}))
        else:
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                f"[red]refused[/]: {escape(str(exc))}"
            )
        raise typer.Exit(1) from None
    predicate = verified.statement["predicate"]
    commit = predicate["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"]
    run = predicate["runDetails"]["metadata"]["invocationId"]
    if output == "json":
        print(
            json.dumps(
                {
                    "verified": True,
                    "digest": verified.digest,
                    "key": verified.key_id,
                    "commit": commit,
                    "run": run,
                }
            )
        )
        return
    print(
        f"verified {verified.digest[:12]}: signed by key {verified.key_id}, "
        f"built from {commit[:12]} by {run}"
    )
