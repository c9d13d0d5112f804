"""`concurrency:` groups in the store: one entry in progress and one pending; a newer entry
supersedes the pending one; a holder whose process died on this machine frees the group at
once, one on another machine when its lease runs out."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from sqlalchemy import update

from lockgate.store import Store
from lockgate.store import tables as t
from lockgate.store.concurrency import ConcurrencyGroups, GroupState


def test_one_in_progress_one_pending_and_a_newer_one_supersedes(tmp_path: Path) -> None:
    groups = ConcurrencyGroups(Store(f"sqlite:///{tmp_path / 'store.db'}"))
    groups.ask("deploy-main", "a")
    assert groups.take("deploy-main", "a", None)
    groups.ask("deploy-main", "b")
    assert not groups.take("deploy-main", "b", None)  # a holds it
    groups.ask("deploy-main", "c")  # b is superseded
    state = groups.state("deploy-main")
    assert state is not None and state.pending == "c" and state.holder == "a"
    assert not groups.take("deploy-main", "b", None)
    groups.ask_to_stop("deploy-main", "a")  # cancel-in-progress
    asked = groups.state("deploy-main")
    assert asked is not None and asked.cancel == "a"
    groups.release("deploy-main", "a")
    assert groups.take("deploy-main", "c", None)
    assert groups.state("other") is None


def test_a_holder_elsewhere_frees_the_group_only_when_its_lease_runs_out(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    groups = ConcurrencyGroups(store)
    groups.ask("g", "a")
    assert groups.take("g", "a", None)
    with store.engine.begin() as conn:  # as if "a" ran on another machine, its pid long gone
        conn.execute(update(t.concurrency_groups).values(holder_host="elsewhere",
                                                         holder_pid=2**22 + 7))  # fmt: skip
    state = groups.state("g")
    assert state is not None and not state.holder_gone(time.time())
    assert state.holder_gone(time.time() + 60)  # once the lease ran out
    here_dead = GroupState("a", state.holder_host, 2**22 + 7, time.time() + 60, None, None)
    assert not here_dead.holder_gone(time.time())
    on_this_machine = GroupState("a", socket.gethostname(), 2**22 + 7, time.time() + 60, None,
                                 None)  # fmt: skip
    assert on_this_machine.holder_gone(time.time())  # a dead process here: at once
    groups.ask("g", "b")
    assert not groups.take("g", "b", None) and groups.take("g", "b", "a")
