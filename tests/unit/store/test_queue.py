"""The queue's leases, on a real store: a running row of a server on another machine is taken
over only once its lease has run out; one of this machine only once its process is gone; a
server's renewal keeps its own rows."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from sqlalchemy import update

from lockgate.store import Store
from lockgate.store import tables as t
from lockgate.store.queue import Queue, QueueStatus, Trigger, renew_every, this_process


def _queued(queue: Queue, name: str) -> int:
    trigger = Trigger("manual", name, "workflow_dispatch", "/srv/app.git", "refs/heads/main",
                      "a" * 40, None, {})  # fmt: skip
    item, _ = queue.enqueue(trigger)
    return item.id


def _running_as(store: Store, item_id: int, worker: str, lease_until: float | None) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(t.queue).where(t.queue.c.id == item_id).values(
            status="running", worker=worker, lease_until=lease_until))  # fmt: skip


def test_a_row_is_taken_over_when_its_server_is_gone(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    queue = Queue(store)
    now = time.time()
    dead = subprocess.Popen(["true"])
    dead.wait()
    rows = {
        "elsewhere, lease out": ("machine-a:123/0", now - 1),
        "elsewhere, lease holds": ("machine-a:124/0", now + 30),
        "elsewhere, from before leases": ("machine-a:125/0", None),
        "here, process gone": (f"{this_process().rpartition(':')[0]}:{dead.pid}/0", now + 30),
        "here, process alive": (f"{this_process()}/0", now - 1),
    }
    ids = {}
    for name, (worker, lease) in rows.items():
        ids[name] = _queued(queue, name)
        _running_as(store, ids[name], worker, lease)
    taken = queue.recover(requeue=True)
    assert sorted(taken) == sorted([ids["elsewhere, lease out"], ids["here, process gone"]])
    for name in ("elsewhere, lease holds", "elsewhere, from before leases", "here, process alive"):
        found = queue.get(ids[name])
        assert found is not None and found.status == QueueStatus.RUNNING, name
    again = queue.get(ids["elsewhere, lease out"])
    assert again is not None and again.status == QueueStatus.QUEUED  # no run yet: all again


def test_a_server_renews_only_its_own_rows(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    queue = Queue(store)
    mine, theirs = _queued(queue, "mine"), _queued(queue, "theirs")
    claimed = queue.claim(f"{this_process()}/0", lease=3)
    assert claimed is not None and claimed.id == mine
    assert claimed.lease_until is not None and claimed.lease_until <= time.time() + 3
    _running_as(store, theirs, f"machine-a:{os.getpid()}/0", 1.0)
    assert queue.renew(lease=60) == 1
    renewed, other = queue.get(mine), queue.get(theirs)
    assert renewed is not None and renewed.lease_until is not None
    assert renewed.lease_until > time.time() + 50
    assert other is not None and other.lease_until == 1.0
    assert renew_every(3) == 1.0 and renew_every(60) == 5.0
