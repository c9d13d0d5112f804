"""`lockgate agent`: keeps every environment of a repository's state converged.

Every probe period it takes one reconcile pass per environment (sooner while a rollout moves
or a restart is due). One agent per state directory: it holds `agent.lock` for its whole life,
so a second one refuses to start and `deploy` can tell whether one runs. Killed with
`kill -9`, it loses nothing: everything it knows is in the store, and the next agent (or the
next deploy command) takes the next pass.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from .. import hostside
from ..common.errors import UserError
from ..common.statedir import state_dir, state_path
from ..store import Store
from ..store.database import default_url
from ..store.deployments import DeploymentRecords, RolloutStatus
from .gitops.watch import GitopsWatch, configured
from .launch import LOCK, AgentRequest, environment_files
from .reconciler import WATCH_PERIOD, Reconciler
from .regionset import RegionSet
from .service import DeployService


@contextlib.contextmanager
def holding_lock(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"an agent already keeps {state_dir.parent} converged",
                hint="one agent per repository; `lockgate status` shows what it does",
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")  # who holds it, for people and scripts
        handle.flush()
        yield


class Agent:
    def __init__(self, service: DeployService, period: float, out: IO[str]) -> None:
        self.service, self.period, self.out = service, period, out
        self.state_dir, self.records = service.state, service.records
        self.running: dict[str, tuple[float, Reconciler | RegionSet]] = {}  # name -> (mtime, it)
        self.stop = threading.Event()
        self.troubles: dict[str, str] = {}  # environment -> the last failure said
        self.watching = False  # the GitOps thread runs

    def say(self, name: str, text: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {name}: {text}", file=self.out, flush=True)

    def reconciler(self, name: str, path: Path) -> Reconciler | RegionSet | None:
        """The environment's reconciler (a multi-region one's waves and global router), made
        again when its file changed."""
        mtime = path.stat().st_mtime
        known = self.running.get(name)
        if known is None or known[0] != mtime:
            try:
                reconciler = self.service.supervised(
                    name, lambda text: self.say(name, text), self.period
                )
            except UserError as exc:
                self.say(name, f"not supervised: {exc}")
                self.running.pop(name, None)
                return None
            self.running[name] = (mtime, reconciler)
        return self.running[name][1]

    def run(self, once: bool = False) -> None:
        period = self.period
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        self.say("agent", f"keeping {self.state_dir.parent} converged (probe period {period:g}s)")
        if not once and not self.watching:
            watch = GitopsWatch(self.service, lambda text: self.say("gitops", text), self.stop)
            threading.Thread(target=watch.run, name="gitops", daemon=True).start()
            self.watching = True
        pruned = 0.0
        while not self.stop.is_set():
            wait = period
            if time.monotonic() - pruned > 3600:  # events are kept, within reason
                for name in environment_files(self.state_dir):
                    self.records.prune_events(name)
                pruned = time.monotonic()
            for name, path in environment_files(self.state_dir).items():
                reconciler = self.reconciler(name, path)
                if reconciler is None or reconciler.driven():
                    continue
                try:
                    wait = min(wait, reconciler.reconcile())
                    self.troubles.pop(name, None)
                except Exception as exc:  # one environment's trouble must not stop the others
                    said = str(exc) if isinstance(exc, UserError) else traceback.format_exc()
                    if self.troubles.get(name) != said:  # said once, not every period
                        self.say(name, f"pass failed: {said}")
                        self.troubles[name] = said
            if once:
                return
            if not self.has_work():
                self.leave()
                return
            self.stop.wait(max(wait, WATCH_PERIOD))  # a deploy command takes faster ones
        self.say("agent", "stopped")

    def has_work(self) -> bool:
        """Whether anything here still needs keeping: an environment not stopped with
        `lockgate down`, or instances still live, or a config repository to follow. Nothing
        once the repository is gone."""
        if configured(self.service) is not None:
            return True
        for name in environment_files(self.state_dir):
            latest = self.records.latest(name)
            if latest is None or latest.status != RolloutStatus.STOPPED:
                return True
            if self.records.instances(name):
                return True
        return False

    def leave(self) -> None:
        """Stop: every environment is down, or the repository was deleted (then its fleets'
        instances, which nothing could reach or stop any more, are stopped first). Deleted
        means no environment file is left: a pass that ran while the repository went may
        have made some of its directories again."""
        if not environment_files(self.state_dir):
            stop_orphans(self.state_dir, self.out)
        self.say("agent", "nothing left to keep converged: stopped")


def stop_orphans(state_dir: Path, out: IO[str]) -> None:
    """The repository is gone, and with it every record of its fleets: stop their instances,
    which nothing could reach or stop any more (their routers stop themselves)."""
    stopped = hostside.sweep_below(state_dir)
    said = f"{state_dir.parent} keeps no environment any more: stopped {len(stopped)} instance(s)"
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} agent: {said}", file=out, flush=True)


def keep_converged(service: DeployService, period: float) -> None:
    """`lockgate agent`: supervise until nothing is left to keep. The lock is let go before a
    last look at the store, so a `deploy` that found an agent running (and so started none)
    has written its desired state by then, and this agent takes it on."""
    agent = Agent(service, period, sys.stdout)
    with holding_lock(service.state):  # a second agent refuses to start
        agent.run()
    while not agent.stop.is_set() and agent.has_work():
        try:
            with holding_lock(service.state):
                agent.run()
        except UserError:
            return  # another agent took over meanwhile


def run_agent(repo: Path, store_url: str | None, period: float) -> None:
    """`lockgate agent` (and `python -m lockgate.deploy.agent`): keep the environments deployed
    from `repo` converged on the store `store_url` names (default: the repository's own)."""
    where = repo.resolve()
    if not where.is_dir():  # deleted before this agent started: nothing to keep
        stop_orphans(state_path(where), sys.stdout)
        return
    store = Store(store_url or default_url(where))
    state_dir(where)  # made with its .gitignore, as a deploy makes it
    keep_converged(DeployService(where, DeploymentRecords(store)), period)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockgate agent", description=__doc__)
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--request", type=Path, required=True, help="what deploy wrote for it")
    args = parser.parse_args(argv)
    try:
        request = AgentRequest.model_validate_json(args.request.read_bytes())
    except (OSError, ValidationError) as exc:
        if not args.repo.resolve().is_dir():  # deleted before this agent started, with it
            stop_orphans(state_path(args.repo.resolve()), sys.stdout)
            return 0
        print(f"error: unreadable agent request {args.request}: {exc}", file=sys.stderr)
        return 2
    try:
        run_agent(args.repo, request.store_url, request.probe_period)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
