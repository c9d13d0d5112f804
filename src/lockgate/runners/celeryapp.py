"""The Celery application both sides share: the run's process sends `lockgate.job` (an
assignment id and its attempt, nothing else: no secrets in the broker) to the queue of the
job's labels; a worker's task claims it from the server and runs it.

Acknowledged late and rejected when the worker's process dies, one message prefetched at a
time: a job a worker holds but never finished goes back to the queue. A second delivery of a
job someone runs is harmless: the claim is a compare-and-set on the server."""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery
from celery.exceptions import Reject

from ..common.errors import UserError
from .settings import SETTINGS

TASK = "lockgate.job"
# a publish waits out a broker restart of up to about two minutes
RETRY = {"max_retries": 60, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2.0}


def celery_app(broker: str, address: str | None = None) -> Celery:
    """`address`: the local address a worker's broker connections leave from (Redis only)."""
    app = Celery("lockgate", broker=broker, set_as_current=False)
    if address is not None:
        from .bound import redis_transport

        app.conf.broker_transport = redis_transport(address)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_enable_remote_control=False,  # no pidbox queues: a worker is driven by the server
        broker_transport_options={"visibility_timeout": 6 * 3600},
    )

    @app.task(name=TASK, bind=True)  # type: ignore[untyped-decorator]
    def job(self: Any, assignment_id: int, attempt: int) -> None:
        from .jobhost import run_assignment  # (a run's process sending jobs never needs it)

        try:
            run_assignment(SETTINGS[0], assignment_id, attempt)
        except UserError as exc:  # this worker's token was refused (revoked): another takes it
            raise Reject(str(exc), requeue=True) from None

    return app


class Publisher:
    """Sends jobs' messages over one connection, retried while the broker is briefly away."""

    def __init__(self, broker: str) -> None:
        self.app = celery_app(broker)
        self.lock = threading.Lock()  # one producer, used from the run's worker threads

    def send(self, queue: str, assignment_id: int, attempt: int) -> None:
        with self.lock:
            self.app.send_task(
                TASK, args=[assignment_id, attempt], queue=queue, retry=True, retry_policy=RETRY
            )
