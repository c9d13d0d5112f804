"""Starting `lockgate serve`: the store, the secrets, queue recovery, workers, then HTTP.

Secrets live in the server's home directory, made on first start (mode 0600) unless given
through the environment: `webhook-secret` (what forges sign with), `hook-token` (what git
hooks send) and `session-key` (what signs the web UI's sessions). Tokens for commit statuses
come from the environment only (LOCKGATE_GITHUB_TOKEN, LOCKGATE_GITEA_TOKEN). Runs a killed
server left running are queued again or reported interrupted, as each workflow chose in its
repository's lockgate.yml (`server:`), else as `--interrupted` says, before any worker
starts.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from pathlib import Path

import uvicorn
from fastapi import HTTPException

from ..common.errors import UserError
from ..runners.brokers import redacted
from ..store import Store
from ..store.queue import Queue, renew_every
from ..store.workers import AssignmentRecords
from . import flagguard
from .api import Services
from .app import ServerConfig, create_app
from .doorbell import Doorbell
from .gitpush import spooled
from .lanes import Lanes
from .mergequeue import MergeQueue
from .scheduler import Scheduler
from .statuses import Forge
from .worker import Worker


def secret(home: Path, name: str, env: str) -> str:
    """The secret from `env`, else from home/name (made, 0600, when missing)."""
    given = os.environ.get(env)
    if given:
        return given
    path = home / name
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def _can_listen(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                where="--port",
                hint="another program (another lockgate serve?) has it; choose another --port",
            ) from None


def _reap(
    store: Store, stop: threading.Event, doorbell: Doorbell, requeue: bool, lease: float
) -> None:
    """Keeps this server's runs its own (their leases renewed), and cleans up after servers
    that died: runs whose process died without finishing (killed) are marked interrupted, so
    the pages never show them running on; queued runs whose server is gone (on this machine,
    or on another sharing the store, once its lease ran out) are taken over: queued again or
    reported, as at a start. A lease is the server's `--lost-after`."""
    queue = Queue(store)
    while not stop.wait(renew_every(lease)):
        queue.renew(lease)
        store.mark_interrupted()
        if queue.recover(requeue):
            doorbell.ring()
        AssignmentRecords(store).abandon_orphans()  # their workers stop them


def _deliver_spooled(home: Path, services: Services) -> int:
    """Queue what hooks spooled while the server was down (each delivery once: a push its
    hook sent meanwhile is recognised); the spool files go."""
    queued = 0
    for path, push in spooled(home):
        trigger = push.trigger() if push is not None else None
        if trigger is not None:
            try:
                services.enqueue(trigger, "git hook (spooled)")
                queued += 1
            except HTTPException as exc:  # no longer registered: said, and dropped
                print(f"spooled push of {trigger.repository} not queued: {exc.detail}")
        path.unlink(missing_ok=True)
    return queued


def forges(github_api: str, gitea_api: str | None) -> dict[str, Forge]:
    """Forges to report commit statuses to: those with a token in the environment."""
    found = {}
    if os.environ.get("LOCKGATE_GITHUB_TOKEN"):
        found["github"] = Forge("github", github_api, os.environ["LOCKGATE_GITHUB_TOKEN"])
    if os.environ.get("LOCKGATE_GITEA_TOKEN") and gitea_api:
        found["gitea"] = Forge("gitea", gitea_api, os.environ["LOCKGATE_GITEA_TOKEN"])
    return found


def serve(
    home: Path,
    store_url: str,
    host: str,
    port: int,
    workers: int,
    requeue: bool,
    reporting: dict[str, Forge],
    public_url: str | None = None,
    deployments: Path | None = None,
    secret_file: Path | None = None,
    merge_depth: int = 2,
    broker: str | None = None,
    lost_after: float = 15.0,
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    _can_listen(host, port)  # before any worker takes a run
    config = ServerConfig(
        home,
        secret(home, "webhook-secret", "LOCKGATE_WEBHOOK_SECRET").encode(),
        secret(home, "hook-token", "LOCKGATE_HOOK_TOKEN"),
        secret(home, "session-key", "LOCKGATE_SESSION_KEY").encode(),
        deployments,
        reporting,
        public_url or f"http://{host}:{port}",
        lost_after,
    )
    store = Store(store_url)
    recovered = Queue(store).recover(requeue)
    store.mark_interrupted()  # the runs of workers that died with it show as interrupted
    AssignmentRecords(store).abandon_orphans()  # jobs of those runs on remote workers stop
    if recovered:
        print(f"{len(recovered)} runs left running by a stopped server: queued again or "
              "marked interrupted, as their repositories chose", flush=True)  # fmt: skip
    stop, doorbell = threading.Event(), Doorbell()
    link = config.public_url
    threads = [
        threading.Thread(
            target=Worker(
                store_url,
                home,
                n,
                stop,
                reporting,
                link,
                doorbell,
                secret_file,
                broker,
                requeue,
                lost_after,
            ).loop,
            name=f"worker-{n}",
        )
        for n in range(workers)
    ]
    threads.append(threading.Thread(target=Scheduler(store, stop, doorbell).loop, name="scheduler"))
    threads.append(threading.Thread(target=_reap, args=(store, stop, doorbell, requeue, lost_after),
                                    name="reaper"))  # fmt: skip
    merging = MergeQueue(Lanes(store, reporting, home, link), stop, doorbell, merge_depth)
    threads.append(threading.Thread(target=merging.loop, name="merge-queue"))
    for thread in threads:
        thread.start()
    where = f"jobs to workers through {redacted(broker)}" if broker else "jobs run here"
    print(f"lockgate serve on http://{host}:{port} ({workers} workers, {where}; webhooks at "
          f"/webhooks/github|gitea|gitlab, secrets in {home})", flush=True)  # fmt: skip
    app = create_app(config, store, doorbell)
    guarding = threading.Thread(target=flagguard.loop, args=(app.state.flag_guard, stop),
                                name="flag-guard")  # fmt: skip
    syncing = threading.Thread(target=app.state.flag_sync.loop, args=(stop,), name="flag-sync")
    for thread in (guarding, syncing):
        thread.start()
        threads.append(thread)
    delivered = _deliver_spooled(home, app.state.services)
    if delivered:
        print(f"{delivered} pushes spooled while the server was down: queued", flush=True)
    if app.state.services.environments.follow():
        print(f"following the config repository of {deployments}/lockgate.yml", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
