"""`lockgate worker`: a Celery worker on the queues of its labels, connecting out only (to the
broker and the server). Its heartbeat (a thread of the main process) says it is alive; a drain
the server asks for becomes Celery's warm shutdown: the jobs it holds finish, no new one is
taken, and a message it had prefetched goes back to the queue."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from pathlib import Path

from ..common.errors import UserError
from ..store import Store
from ..store.workers import HEARTBEAT_EVERY
from .celeryapp import celery_app
from .client import WorkerClient
from .jobhost import local_store
from .labels import queues_for
from .payload import Heartbeat, Said
from .settings import SETTINGS, WorkerSettings


class Heartbeats:
    def __init__(self, client: WorkerClient, labels: tuple[str, ...], concurrency: int) -> None:
        self.client, self.labels, self.concurrency = client, labels, concurrency
        self.stop, self.draining = threading.Event(), False

    def say(self, state: Said) -> bool:
        """One heartbeat; whether the server asks for a drain."""
        beat = Heartbeat(
            labels=list(self.labels),
            concurrency=self.concurrency,
            host=socket.gethostname(),
            state=state,
        )
        return self.client.heartbeat(beat).drain

    def loop(self) -> None:
        while not self.stop.wait(HEARTBEAT_EVERY):
            try:
                drain = self.say("draining" if self.draining else "idle")
            except UserError as exc:  # the token was revoked: take no job, finish what runs
                print(f"lockgate worker: {exc}; stopping", flush=True)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            except Exception as exc:  # the server away: say so, and keep going
                print(f"lockgate worker: heartbeat failed: {exc}", flush=True)
                continue
            if drain and not self.draining:
                self.draining = True
                print("lockgate worker: draining: finishing current jobs", flush=True)
                os.kill(os.getpid(), signal.SIGTERM)  # Celery's warm shutdown


def run_worker(server: str, token: str, broker: str, labels: tuple[str, ...],
               concurrency: int, home: Path, address: str | None = None) -> int:  # fmt: skip
    client = WorkerClient(server, token, address)
    heartbeats = Heartbeats(client, labels, concurrency)
    beat = Heartbeat(labels=list(labels), concurrency=concurrency, host=socket.gethostname(),
                     state="idle")  # fmt: skip
    reply = client.heartbeat(beat)  # a wrong or revoked token stops it here
    if reply.drain:
        raise UserError(f"worker {reply.name} was asked to drain",
                        hint="start it again after the drain: a new start clears it")  # fmt: skip
    SETTINGS.append(WorkerSettings(server, token, home, reply.name, address))
    Store(local_store(home))  # made (migrated) once, before the pool's processes open it
    queues = queues_for(labels)
    print(f"lockgate worker {reply.name}: labels {', '.join(labels)}; {concurrency} at once; "
          f"{len(queues)} queues", flush=True)  # fmt: skip
    thread = threading.Thread(target=heartbeats.loop, name="heartbeat", daemon=True)
    thread.start()
    app = celery_app(broker, address)
    try:
        app.worker_main([
            "--quiet", "worker", "--queues", ",".join(queues), "--concurrency", str(concurrency),
            "--hostname", f"{reply.name}@{socket.gethostname()}", "--pool", "prefork",
            "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
            "--without-heartbeat",
        ])  # fmt: skip
    finally:
        heartbeats.stop.set()
        with contextlib.suppress(Exception):  # the server away: it shows it offline soon
            heartbeats.say("stopped")
        client.close()
    return 0
