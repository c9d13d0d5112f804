"""The job cache as a run uses it: key a job, restore a hit in its place, save a success."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...actions.builtin import artifact_root
from ...common.archive import pack, unpack
from ...common.gitinfo import RepoInfo
from ...store import Store
from ...store.records import Conclusion, Status
from ...workflow import schema
from ...workflow.loader import LoadedWorkflow
from ...workflow.project import Project
from ..globs import filter_match
from ..recorder import Recorder
from ..state import Annotation, FinishedJob, JobRun, Observer, RunOptions, StepRun
from .entries import (
    Entry,
    SavedAnnotation,
    SavedArtifact,
    SavedStep,
    TooLarge,
    blobs_named,
    decode_logs,
    encode_logs,
)
from .inputs import WorkspaceFiles, tree_digest
from .keys import PER_RUN, job_key, pick, referenced, secrets_digest
from .storage import Layers, LocalStorage, RemoteStorage, prune, sha256

INLINE_BYTES = 1 << 20  # a local entry naming at most this much is read on the loop


@dataclass(frozen=True)
class Hit:
    """A cache entry found for a key, with every blob it names and its logs, all verified."""

    entry: Entry
    blobs: dict[str, bytes]
    logs: list[tuple[int, float, str]]


class JobCache:
    """Saves successful jobs' results and restores them for the same inputs. Given the run's
    parts it needs (not the run context), so the run context may hold it."""

    def __init__(
        self,
        options: RunOptions,
        store: Store,
        repo: RepoInfo,
        observer: Observer,
        state_dir: Path,
        project: Project,
        remote_url: str | None,
    ) -> None:
        self.options, self.store, self.repo, self.observer = options, store, repo, observer
        self.state_dir = state_dir
        self.project = project
        self.loop = asyncio.get_running_loop()
        self.local = LocalStorage(state_dir / "cache")
        self.reading = options.use_cache  # False (--no-cache): keys only, nothing read or saved
        url = (remote_url or project.cache.remote) if self.reading else None
        remote = RemoteStorage(url, float(project.cache.remote_timeout), self.warn) if url else None
        self.layers = Layers(self.local, remote, self.warn)
        self._files: WorkspaceFiles | None = None
        self._files_lock = threading.Lock()
        # Hashing the workspace, and reading remote or large entries, happen off the loop in
        # one thread made once (see find).
        self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lockgate-cache")
        self.saved = 0
        self.saving = self.reading

    def warn(self, text: str) -> None:
        # Storage runs in worker threads; the observer belongs to the loop's thread.
        if threading.current_thread() is threading.main_thread():
            self.observer.message(text, "warning")
        else:
            self.loop.call_soon_threadsafe(self.observer.message, text, "warning")

    async def hash_files(self) -> None:
        await self.loop.run_in_executor(self.reader, self.files)

    def close(self) -> None:
        self.reader.shutdown(wait=False, cancel_futures=True)

    def files(self) -> WorkspaceFiles:
        with self._files_lock:
            if self._files is None:
                self._files = WorkspaceFiles(self.repo, self.local.root / "file-hashes.json")
            return self._files

    def check_unchanged(self) -> None:
        """Called once the run's copy of the tree exists: if files changed after they were
        hashed, jobs would run on content their keys do not describe, so keep nothing."""
        with self._files_lock:
            hashed_before = self._files is not None
        if not hashed_before:
            self.files()  # hash now, so later keys describe what the copy holds
            return
        changed = self.files().changed()
        if changed:
            self.saving = False
            self.warn(
                f"{changed[0]} changed while the run started ({len(changed)} file(s)); "
                "this run's results are not saved to the cache"
            )

    # -- keys -----------------------------------------------------------------------------
    def cacheable(self, job_id: str, spec: schema.Job) -> bool:
        """Jobs that deploy (they name an `environment`) run every time unless lockgate.yml
        says `cache: true` for them; `cache: false` turns caching off for any job."""
        rules = self.project.rules(job_id)
        if rules.cache is not None:
            return rules.cache
        return spec.environment is None

    def key(
        self, wf: LoadedWorkflow, job_id: str, contexts: dict[str, Any], labels: list[str]
    ) -> str:
        definition = {
            "job": wf.data["jobs"][job_id],
            "env": wf.data.get("env"),
            "defaults": wf.data.get("defaults"),
        }
        text = str(definition)
        rules = self.project.rules(job_id)
        patterns = None if rules.inputs is None else [*rules.inputs, *self.action_dirs(wf, job_id)]
        return job_key(
            {
                "workflow": wf.display,
                "definition": definition,
                "labels": sorted(label.lower() for label in labels),
                "matrix": contexts["matrix"],
                "strategy": contexts["strategy"],
                "needs": contexts["needs"],
                "inputs": contexts["inputs"],
                "vars": pick(contexts["vars"], referenced("vars", text), frozenset()),
                "github": pick(contexts["github"], referenced("github", text), PER_RUN),
                "secrets": secrets_digest(contexts["secrets"], referenced("secrets", text)),
                "env": dict(self.options.env),
                "host_env": {name: os.environ.get(name) for name in sorted(rules.env)},
                "files": self.files().digest(patterns),
                "actions": self.mapped_actions(wf, job_id),
            }
        )

    def local_uses(self, wf: LoadedWorkflow, job_id: str) -> list[str]:
        spec = wf.model.jobs[job_id]
        steps = spec.steps if isinstance(spec, schema.Job) else []
        return [s.uses.strip() for s in steps if s.uses]

    def action_dirs(self, wf: LoadedWorkflow, job_id: str) -> list[str]:
        """`./path` actions the job uses stay inputs even when lockgate.yml narrows them."""
        dirs = [u.removeprefix("./").rstrip("/") for u in self.local_uses(wf, job_id)]
        return [f"{d}/**" for d in dirs if d and not d.startswith(("/", "."))]

    def mapped_actions(self, wf: LoadedWorkflow, job_id: str) -> dict[str, str]:
        mapped = self.options.action_paths
        used = [u for u in self.local_uses(wf, job_id) if u in mapped]
        return {ref: tree_digest(mapped[ref]) for ref in sorted(used)}

    # -- lookup and restore ----------------------------------------------------------------
    async def find(self, key: str) -> Hit | None:
        """The entry for `key` with every blob it names, verified; None for a miss or anything
        damaged. Read on the loop when it is local and small: handing a cached rerun's 12
        small lookups to a thread cost more (6 ms) than reading them; a remote or a large
        entry (artifacts to verify) is read off the loop."""
        if not self.reading:
            return None
        if self.layers.remote is not None:
            return await self.loop.run_in_executor(self.reader, self.lookup, key)
        entry = self.entry(key)
        if entry is None:
            return None
        if entry.size <= INLINE_BYTES:
            return self.complete(key, entry)
        return await self.loop.run_in_executor(self.reader, self.complete, key, entry)

    def lookup(self, key: str) -> Hit | None:
        entry = self.entry(key)
        return self.complete(key, entry) if entry is not None else None

    def entry(self, key: str) -> Entry | None:
        data = self.layers.get_entry(key)
        if data is None:
            return None
        try:
            return Entry.decode(data)
        except ValueError as exc:
            self.warn(f"cache entry {key[:12]} is damaged ({exc}); running the job")
            self.layers.forget(key)
            return None

    def complete(self, key: str, entry: Entry) -> Hit | None:
        """The entry's blobs, verified, and its logs; None when one is missing or damaged."""
        blobs = {}
        for digest in entry.blobs():
            blob = self.layers.get_blob(digest)
            if blob is None:
                return None
            blobs[digest] = blob
        try:
            logs = decode_logs(blobs[entry.logs])
        except (TooLarge, ValueError, OSError, EOFError) as exc:
            self.warn(f"cache entry {key[:12]} cannot be used ({exc}); running the job")
            return None
        return Hit(entry, blobs, logs)

    def restore(
        self,
        job: JobRun,
        key: str,
        hit: Hit,
        run_id: int,
        recorder: Recorder,
    ) -> None:
        """Record the job as if it ran, from the entry of run `entry.source_run`, through the
        recorder a real run uses."""
        entry, blobs = hit.entry, hit.blobs
        with recorder.batch():
            now = time.time()
            job.cache_key, job.cached_from = key, entry.source_run
            job.status, job.started = Status.RUNNING, now
            for saved in entry.steps:
                ended = StepRun(0, saved.name, saved.status, saved.outcome, saved.conclusion,
                                now, now, dict(saved.outputs))  # fmt: skip
                lines = [(now + offset, text) for n, offset, text in hit.logs if n == saved.number]
                recorder.step_restored(job, ended, lines)
            for note in entry.annotations:
                number = note.step
                on = job.steps[number - 1] if 0 < number <= len(job.steps) else None
                annotation = Annotation(note.level, note.message, note.file, note.line, note.col,
                                        note.title)  # fmt: skip
                recorder.annotate(job, annotation, on, logged=False)
            for artifact in entry.artifacts:
                target = artifact_root(self.state_dir, run_id) / artifact.name
                unpack(blobs[artifact.blob], target)
                recorder.artifact(run_id, artifact.name, str(target), artifact.size)
            if entry.paths and self.options.bind:
                unpack(blobs[entry.paths], self.options.repo_dir)
            job.outputs, job.summary = dict(entry.outputs), entry.summary
            job.conclusion = Conclusion.SUCCESS
            job.message = f"cached from run {entry.source_run} (saved {entry.duration:.1f}s)"
            recorder.job_finished(
                job, cache_key=key, cached_from=entry.source_run, started_at=job.started
            )

    # -- saving ------------------------------------------------------------------------------
    async def save(self, key: str, done: FinishedJob, workflow: str) -> None:
        """Keep a successful job's results under `key` (called before its workspace goes)."""
        if not self.saving:
            return
        job, store = done.job, self.store
        started = job.started or time.time()
        try:
            logs = encode_logs(
                (step, ts - started, line) for step, ts, line in store.job_logs(job.row)
            )
        except TooLarge as exc:
            self.observer.message(f"{job.name}: not cached: {exc}")
            return
        blobs = {sha256(logs): logs}
        artifacts = []
        for name, path, size in done.artifacts:
            root = Path(path)
            names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
            data = await asyncio.to_thread(pack, root, names)
            blobs[sha256(data)] = data
            artifacts.append(SavedArtifact(name, sha256(data), size))
        paths = None
        declared = self.project.rules(job.job_id).outputs
        if declared:
            data = await asyncio.to_thread(self.pack_outputs, done.workspace, declared)
            paths = sha256(data)
            blobs[paths] = data
        entry = Entry(
            key=key,
            job_id=job.job_id,
            workflow=workflow,
            source_run=done.run_id,
            created=time.time(),
            duration=job.duration or 0.0,
            outputs=dict(job.outputs),
            summary=job.summary,
            steps=[
                SavedStep(
                    s.number, s.name, s.status, s.outcome, s.conclusion, s.duration, s.outputs
                )
                for s in job.steps
            ],
            annotations=[
                SavedAnnotation(a.step, a.level, a.message, a.file, a.line, a.col, a.title)
                for a in store.job_annotations(job.row)
            ],
            logs=sha256(logs),
            paths=paths,
            artifacts=artifacts,
            size=sum(len(b) for b in blobs.values()),
        )
        await asyncio.to_thread(self.layers.put, key, entry.encode(), blobs)
        self.saved += 1

    @staticmethod
    def pack_outputs(workspace: Path, patterns: list[str]) -> bytes:
        names = [
            p.relative_to(workspace).as_posix()
            for p in workspace.rglob("*")
            if (p.is_file() or p.is_symlink()) and ".git" not in p.relative_to(workspace).parts
        ]
        return pack(workspace, [n for n in names if filter_match(n, patterns)])

    def prune(self) -> None:
        """Keep the local cache within lockgate.yml's `cache.max-size` after a run saved to it."""
        if self.saved:
            prune(self.local, self.project.max_size, blobs_named)


@dataclass(frozen=True)
class Listed:
    """A local cache entry as `lockgate cache ls` shows it (a damaged one names no job)."""

    key: str
    job: str
    size: int  # the entry and every blob it names
    used: float
    workflow: str | None = None
    source_run: int | None = None
    created: float | None = None
    saves: float | None = None  # seconds the job took when it ran


def cache_listing(state_dir: Path) -> list[Listed]:
    """Every local entry, most recently used first, for `lockgate cache ls`."""
    local = LocalStorage(state_dir / "cache")
    listing = []
    for key, last_used, data in local.entries():
        try:
            entry = Entry.decode(data)
        except ValueError:
            listing.append(Listed(key, "(damaged)", len(data), last_used))
            continue
        size = len(data) + entry.size
        listing.append(Listed(key, entry.job_id, size, last_used, entry.workflow,
                              entry.source_run, entry.created, entry.duration))  # fmt: skip
    return listing


def prune_cache(state_dir: Path, max_size: int) -> int:
    return prune(LocalStorage(state_dir / "cache"), max_size, blobs_named)
