"""A worker takes queued runs one at a time: it fetches the commit from the trigger's
repository into a fresh workspace and runs it there in a process of its own (a typed request
in, a typed outcome out: `runjob.py`), writing to the server's store. It is given a queued run
and reports how it ended; it needs nothing of the server but the store's URL, so workers on
other machines fit the same interface later."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from pydantic import ValidationError

from ..common.errors import UserError
from ..common.gitinfo import git_said
from ..engine.plan import Plan, describe
from ..engine.runner import selection
from ..engine.state import RunOptions
from ..runners.sealing import key_file
from ..store import Store
from ..store.protections import ProtectionRecords, ReviewRecords
from ..store.queue import InterruptPolicy, Queue, QueuedRun, Trigger, worker_name
from ..store.records import Conclusion
from ..workflow.project import load_project
from . import scheduler
from .doorbell import Doorbell
from .holds import going_on, open_reviews, specs
from .runjob import HeldJob, RunOutcome, RunRequest
from .statuses import Forge, Status, report, state_of

IDLE = 0.5  # seconds between looks at an empty queue
CANCEL_POLL = 0.5  # seconds between looks for an operator's cancel
WORKFLOW_FILE = re.compile(r"^\.github/workflows/[\w.-]+\.ya?ml$")
PR_SET_PDEATHSIG = 1
# Where code may be fetched from: a URL of these schemes, an absolute path, or user@host:path.
# Never a string git would read as an option, nor its ext:: / fd:: helpers that run commands.
SOURCE = re.compile(r"^((https?|ssh|git|file)://[^\s]+|/[^\s]*|[\w.-]+@[\w.-]+:[\w./~-]+)$")
REF = r"refs/[^\s~^:?*\[\\]+"  # what git check-ref-format allows, near enough
COMMIT = re.compile(rf"^([0-9a-f]{{7,64}}|{REF})$")
GIT_ENV = {"GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh", "GIT_TERMINAL_PROMPT": "0"}


def unsafe(trigger: Trigger) -> str | None:
    """Why the trigger's repository, ref or commit cannot be handed to git, if it cannot."""
    if not SOURCE.match(trigger.repository):
        return f"refused to fetch from {trigger.repository!r}: not a URL, path or user@host:path"
    if not COMMIT.match(trigger.after) or not COMMIT.match(trigger.ref) or ".." in trigger.ref:
        return f"refused: {trigger.ref!r} at {trigger.after!r} is not a ref and a commit"
    if trigger.workflow is not None and not WORKFLOW_FILE.match(trigger.workflow):
        return f"refused: {trigger.workflow!r} is not a workflow file under .github/workflows"
    return None


def _die_with_parent() -> None:
    """A run outlives no server: it gets SIGTERM (and cancels its jobs) when its server dies,
    and the item is taken again after the restart."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Worker:
    def __init__(
        self,
        store_url: str,
        home: Path,
        number: int,
        stop: threading.Event,
        forges: dict[str, Forge],
        public_url: str,
        doorbell: Doorbell,
        secret_file: Path | None = None,  # every run's secrets (read by the run, never argv)
        broker: str | None = None,  # jobs go to `lockgate worker`s through it
        requeue: bool = True,  # the server's --interrupted (a lost worker's job, too)
        lost_after: float = 15.0,  # seconds without a beat: a worker is taken as lost
    ) -> None:
        self.store_url, self.home, self.stop, self.doorbell = store_url, home, stop, doorbell
        self.secret_file, self.broker, self.requeue = secret_file, broker, requeue
        self.lost_after = lost_after
        self.forges, self.public_url = forges, public_url.rstrip("/")
        self.name = worker_name(number)
        self.store = Store(store_url)
        self.queue = Queue(self.store)

    def loop(self) -> None:
        while not self.stop.is_set():
            item = self.queue.claim(self.name, self.lost_after)
            if item is None:
                self.doorbell.wait(IDLE)
                continue
            self.tell(item, "pending", "running")
            code, said = self.take(item)
            self.queue.finish(item.id, code, said)
            self.tell(item, state_of(code), said or f"lockgate run exited {code}")

    def tell(self, item: QueuedRun, state: str, description: str) -> None:
        """The commit's status on its forge, when one is configured for the trigger's source."""
        forge = self.forges.get(item.trigger.source)
        if forge is not None:
            link = f"{self.public_url}/queue/{item.id}"  # the UI: the run page once it runs
            failed = report(forge, item.trigger, Status(state, link, description[:140]))
            if failed:
                print(f"queued run {item.id}: {failed}", flush=True)

    def take(self, item: QueuedRun) -> tuple[int, str | None]:
        """Run it; (exit code, what went wrong in a line or None)."""
        trigger = item.trigger
        refused = unsafe(trigger)
        if refused:
            return 2, refused
        where = self.home / "workspaces" / str(item.id)
        shutil.rmtree(where, ignore_errors=True)
        checkout = where / "checkout"
        checkout.mkdir(parents=True)
        try:
            failed = _fetch(checkout, trigger)
            if failed:
                return 2, f"cannot fetch {trigger.ref} from {trigger.repository}: {failed}"
            scheduler.record(self.store, trigger, checkout)
            self.queue.choose_interrupt(item.id, _interrupt_policy(checkout))
            planned = self.plan(trigger, checkout)
            if planned is not None:
                self.queue.set_plan(item.id, planned.as_json())
            try:
                request = RunRequest(
                    checkout=checkout, event=trigger.event, payload=trigger.payload,
                    store_url=self.store_url, trigger_id=item.id, actor=trigger.actor,
                    workflow=trigger.workflow, jobs=trigger.jobs or [],
                    protections=specs(ProtectionRecords(self.store), self.home),
                    clearances=trigger.clearances or {}, reuse_from=trigger.continues,
                    secret_file=self.secret_file,
                    # what the server was started with applies to its runs, as to `lockgate run`
                    github_url=os.environ.get("LOCKGATE_GITHUB_URL") or "https://github.com",
                    remote_cache=os.environ.get("LOCKGATE_REMOTE_CACHE") or None,
                    broker=self.broker,
                    seal_key=key_file(self.home) if self.broker else None,
                    interrupted="requeue" if self.requeue else "report",
                    lost_after=self.lost_after,
                )  # fmt: skip
            except ValidationError as exc:
                wrong = exc.errors()[0]
                return 2, f"refused: {'.'.join(map(str, wrong['loc']))}: {wrong['msg']}"
            code, said = self.watch(item, request, where)
            self.keep_artifacts(item, checkout)
            return code, said
        finally:
            shutil.rmtree(where, ignore_errors=True)

    def plan(self, trigger: Trigger, checkout: Path) -> Plan | None:
        """What the run will do, as `lockgate run --list` plans it (the queued page shows it
        while it runs); None when the workflows do not read (the run itself says why)."""
        workflow = checkout / trigger.workflow if trigger.workflow else None
        options = RunOptions(checkout, trigger.event, workflow, event_payload=trigger.payload)
        try:
            chosen, not_triggered = selection(options)
            return describe(chosen, not_triggered, self.store.job_history)
        except UserError:
            return None

    def keep_artifacts(self, item: QueuedRun, checkout: Path) -> None:
        """The runs' artifacts outlive the workspace: into the server's home/artifacts."""
        for run_id in self.store.runs_of_trigger(item.id):
            old = checkout / ".lockgate" / "artifacts" / str(run_id)
            if old.is_dir():
                new = self.home / "artifacts" / str(run_id)
                shutil.rmtree(new, ignore_errors=True)
                new.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(old, new)
                self.store.move_artifacts(run_id, old, new)

    def watch(self, item: QueuedRun, request: RunRequest, where: Path) -> tuple[int, str | None]:
        """Run the request in a process of its own (`server/runjob.py`), stopping it (SIGTERM:
        it cancels its jobs) when an operator cancels the item; (exit code, what went wrong).
        What the process prints goes to a file, not a pipe: a run whose server died still
        writes freely while it cancels its jobs."""
        asked, answered = where / "request.json", where / "outcome.json"
        asked.write_text(request.model_dump_json())
        command = [sys.executable, "-m", "lockgate.server.runjob", str(asked), str(answered)]
        with (where / "said.txt").open("wb") as output, subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
            preexec_fn=_die_with_parent,
        ) as process:  # fmt: skip
            cancelled = False
            while True:
                try:
                    process.wait(CANCEL_POLL)  # returns the moment the run ends
                    break
                except subprocess.TimeoutExpired:
                    if not cancelled and self.queue.cancel_asked(item.id):
                        process.terminate()
                        cancelled = True
        outcome = RunOutcome.read(answered)
        if cancelled:
            return outcome.exit_code if outcome else 130, "cancelled by an operator"
        if outcome is None:
            return _exit_code(process.returncode), _died(process.returncode)
        if outcome.held:
            self.hold(item, outcome.held)
        return outcome.exit_code, outcome.error

    def hold(self, item: QueuedRun, held: list[HeldJob]) -> None:
        """Reviews for the jobs the run left held; one held by its wait timer alone goes on
        by itself, queued to start when the timer runs out."""
        reviews = ReviewRecords(self.store)
        for review in open_reviews(reviews, held):
            if review.reviewers:
                continue
            run = self.store.get_run(review.run_id)
            assert run is not None
            trigger = going_on(item.trigger, run, review, None)
            queued, _ = self.queue.enqueue(trigger)
            reviews.continued(review.id, queued.id)
            said = f"after its wait: goes on in queued run {queued.id}"
            self.store.settle_waiting(run.id, trigger.jobs or [], Conclusion.SKIPPED, said)


def _exit_code(returncode: int) -> int:
    """A process killed by signal N counts as a shell would show it: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _died(returncode: int) -> str:
    how = (
        f"killed by {signal.Signals(-returncode).name}"
        if returncode < 0
        else f"exit code {returncode}"
    )
    return f"the run's process ended without an outcome ({how})"


def _interrupt_policy(checkout: Path) -> InterruptPolicy:
    """What the repository's lockgate.yml asks for runs a dead server cut off."""
    try:
        settings = load_project(checkout).server
    except UserError:
        return InterruptPolicy()  # the run itself reports the broken lockgate.yml
    return InterruptPolicy(settings.interrupted, settings.interrupted_choices())


def _fetch(checkout: Path, trigger: Trigger) -> str | None:
    """The trigger's commit checked out (on its branch, for a branch): None, or what failed."""
    fetched = _git(checkout, "init", "-q") or _git(
        checkout, "fetch", "-q", "--no-tags", trigger.repository,
        f"+{trigger.ref}:refs/lockgate/trigger",
    )  # fmt: skip
    if fetched:
        return fetched
    # A schedule or a manual run names a ref, not a commit: what the ref points at now.
    commit = "refs/lockgate/trigger" if trigger.after.startswith("refs/") else trigger.after
    if trigger.ref.startswith("refs/heads/"):
        branch = trigger.ref.removeprefix("refs/heads/")
        return _git(checkout, "checkout", "-q", "-B", branch, commit)
    return _git(checkout, "checkout", "-q", "--detach", commit)


def _git(where: Path, *args: str) -> str | None:
    """None when git succeeded, else what it said."""
    done = subprocess.run(
        ["git", "-C", str(where), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **GIT_ENV},
    )
    if done.returncode == 0:
        return None
    return git_said(done.stderr, done.returncode)
