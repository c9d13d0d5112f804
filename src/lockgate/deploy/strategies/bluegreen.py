"""Blue-green: start a full green set beside blue, smoke-check it, optionally wait for
approval, switch all traffic in one router change, and keep blue for a while so a rollback is
one router change back."""

from __future__ import annotations

import os
import subprocess
import time
from typing import TYPE_CHECKING

from ..httpcheck import status_of

if TYPE_CHECKING:
    from ..controller import Controller


def _other_pool(ctl: Controller) -> str:
    pools = {r["pool"] for r in ctl.rows() if r["state"] == "serving"}
    return "blue" if "green" in pools else "green"


def prepare(ctl: Controller, deployment: int, digest: str) -> bool:
    """Start and check the green set; True when it now waits for `lockgate promote`."""
    from ..controller import RolloutFailed

    strategy = ctl.spec.strategy
    pool = _other_pool(ctl)
    green = [ctl.launch(deployment, slot, digest, pool) for slot in range(ctl.spec.target.replicas)]
    ctl.await_ready(green, float(strategy.readiness_timeout))
    ctl.note(f"{pool} set ready ({len(green)} instances)")
    for row in green:
        for probe in strategy.smoke:
            answer = status_of(row["address"], probe.path, timeout=5)
            if answer != probe.expect:
                raise RolloutFailed(
                    f"smoke check GET {probe.path} on instance {row['slot']} gave "
                    f"{answer or 'no answer'}, "
                    f"expected {probe.expect}"
                )
    if strategy.smoke_command:
        addresses = " ".join(r["address"] for r in green)
        done = subprocess.run(
            ["bash", "-c", strategy.smoke_command],
            env={
                **os.environ,
                "GREEN_ADDRESSES": addresses,
                "GREEN_URL": f"http://{green[0]['address']}",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RolloutFailed(
                f"smoke command failed ({done.returncode}): {(done.stdout + done.stderr)[-300:]}"
            )
    ctl.note("smoke checks passed")
    return strategy.approval


def switch(ctl: Controller, deployment: int, digest: str) -> None:
    """All traffic to the new set in one router change; the old set stays on standby."""
    rows = ctl.rows()
    green = [r["id"] for r in rows if r["digest"] == digest and r["state"] == "ready"]
    blue = [r["id"] for r in rows if r["state"] == "serving"]
    ctl.serve(green, standby=blue)
    delay = float(ctl.spec.strategy.scale_down_delay)
    ctl.records.update(deployment, phase=f"switched; blue kept until {time.time() + delay:.0f}")
    ctl.note(f"switched traffic to {digest[:12]}; previous set kept {delay:.0f}s for rollback")


def swap_back(ctl: Controller, digest: str) -> bool:
    """Rollback in one router change when the previous set is still on standby."""
    from .rolling import reuse

    replicas = ctl.spec.target.replicas
    ready = {r["slot"] for r in ctl.rows() if r["state"] == "standby" and r["digest"] == digest}
    if len(ready) < replicas:
        return False
    reuse(ctl, digest)
    ctl.note(f"switched traffic back to {digest[:12]}")
    return True


def reap(ctl: Controller) -> None:
    """Stop standby instances once the deployment that parked them is past its delay."""
    latest = ctl.records.latest(ctl.name)
    if latest is None or latest["status"] == "awaiting_approval":
        return
    delay = float(ctl.spec.strategy.scale_down_delay)
    finished = latest["finished_at"] or time.time()
    if time.time() >= finished + delay:
        ctl.retire([r for r in ctl.rows() if r["state"] == "standby"])
