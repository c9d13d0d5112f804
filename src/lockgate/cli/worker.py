"""`lockgate worker`: run jobs of a `lockgate serve --broker` server on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..common.errors import UserError
from ..common.files import private_directory


def _token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}", where="--token-file") from None
    if not token:
        raise UserError(
            f"{path} is empty",
            where="--token-file",
            hint="put the token `lockgate token create NAME --role worker` printed in it",
        )
    return token


def worker(
    server: Annotated[str, typer.Option("--server", help="the server's URL")],
    token_file: Annotated[
        Path, typer.Option("--token-file", help="a worker token (`token create --role worker`)")
    ],
    broker: Annotated[
        str | None, typer.Option("--broker", help="the server's broker, e.g. redis://host:6379/0")
    ] = None,
    labels: Annotated[
        str, typer.Option("--labels", help="what jobs' runs-on may ask for, e.g. gpu,arm64")
    ] = "",
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64)] = 1,
    home: Annotated[
        Path, typer.Option("--home", help="this worker's files: jobs' checkouts, tools")
    ] = Path("lockgate-worker"),
    drain: Annotated[
        bool, typer.Option("--drain", help="ask the server to drain this worker, and exit")
    ] = False,
    address: Annotated[
        str | None,
        typer.Option("--address", help="the local IP address to connect from (Redis broker)"),
    ] = None,
) -> None:
    """Take jobs whose runs-on labels this machine has, from a server's broker, and run them
    with the same engine as `lockgate run`; logs, outcomes and artifacts go to the server.

    Example: lockgate worker --server https://ci.example --token-file gpu-1.token \\
        --broker redis://ci.example:6379/0 --labels gpu --concurrency 2
    """
    from ..engine.github import ARCH
    from ..runners.client import WorkerClient
    from ..runners.labels import worker_labels
    from ..runners.worker import run_worker

    token = _token(token_file)
    if address is not None:
        from ..runners.bound import checked_address

        checked_address(address)
    if drain:
        client = WorkerClient(server, token, address)
        client.drain()
        print("draining: the worker finishes its current jobs, takes no new ones, and stops")
        return
    if broker is None:
        raise UserError("--broker is required to take jobs", where="--broker",
                        hint="the same URL `lockgate serve --broker` was given")  # fmt: skip
    from ..runners.brokers import checked_broker

    checked_broker(broker, "--broker")
    if address is not None and not broker.startswith(("redis://", "rediss://")):
        raise UserError("--address needs a Redis broker (redis://)", where="--address")
    chosen = worker_labels(labels, ARCH)
    home = home.resolve()
    private_directory(home, "--home")
    raise typer.Exit(run_worker(server, token, broker, chosen, concurrency, home, address))
