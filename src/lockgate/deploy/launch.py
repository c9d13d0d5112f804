"""Finding and starting a repository's agent process (`agent.py` is what runs in it).

One agent per state directory: it holds `agent.lock` for its whole life, so whether one runs
is whether the lock is held. A deploy starts one when none runs and tells it its store in an
`AgentRequest` file only its owner reads: a URL may carry a password, so it is never on the
command line or in the environment."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..common.filelocks import held
from ..common.processes import spawn_detached
from .reconciler import PROBE_PERIOD

LOCK = "agent.lock"
LOG = "agent.log"
REQUEST = "agent-request.json"


def environment_files(state_dir: Path) -> dict[str, Path]:
    """The environments deployed from this state directory: name -> kept environment file."""
    fleet = state_dir / "fleet"
    found = sorted(fleet.glob("*/environment.yaml")) if fleet.is_dir() else []
    return {path.parent.name: path for path in found}


def agent_running(state_dir: Path) -> bool:
    """Whether an agent holds this state directory's lock."""
    return held(state_dir / LOCK)


class AgentRequest(BaseModel):
    """What a deploy tells the agent it starts: the store, and how often to look."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store_url: str = Field(min_length=1)
    probe_period: float = Field(default=PROBE_PERIOD, ge=0.1)


def start_agent(repo: Path, state_dir: Path, store_url: str) -> None:
    """Start a detached agent for this repository unless one runs, on the store `store_url`
    names. It starts through this module, not the whole command line, which imports twice as
    much."""
    if agent_running(state_dir):
        return
    request = (state_dir / REQUEST).resolve()  # the agent starts in /
    request.touch(mode=0o600)
    request.chmod(0o600)
    request.write_text(AgentRequest(store_url=store_url).model_dump_json())
    command = [sys.executable, "-m", "lockgate.deploy.agent", "--repo", str(repo),
               "--request", str(request)]  # fmt: skip
    spawn_detached(command, state_dir / LOG)
