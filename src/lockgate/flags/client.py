"""lockgate's flag SDK for Python applications: flags evaluated in-process from a local copy,
kept fresh by the server's change stream (a change arrives within moments) with polling as
the fallback. While the server cannot be reached it keeps answering from the last copy it had,
else from a bootstrap file; nothing it does raises into the application.

    flags = FlagClient("http://lockgate:8000", "production.lg_...", backup=Path("flags.json"))
    if flags.enabled("new-checkout", {"userId": user.id}):
        ...
    flags.observe("new-checkout", {"userId": user.id}, failed=False, latency=0.012)

`observe` reports how a request went on the side of the flag its user is on, for a guarded
rollout's analysis; observations are sent in batches every few seconds, and dropped (never
piled up without bound) while the server cannot be reached.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ..common.files import replace_whole
from .context import Context
from .definitions import ClientFeatures
from .evaluate import Evaluation, Evaluator, VariantResult, disabled

STREAM_READ_TIMEOUT = 40.0  # the server sends a keep-alive every 15 s
MAX_UNSENT = 20_000  # observations kept between reports; beyond it they are dropped
BATCH = 5000  # observations a report carries (the server's limit)
CLIENT_SPEC = "6.0.0"  # the Unleash client specification this SDK passes (global segments)
UNANSWERED = ("unknown flag", "error:", "no flags yet")  # reasons the caller's default stands


class FlagClient:
    def __init__(
        self,
        url: str,
        key: str,
        *,
        bootstrap: Path | None = None,
        backup: Path | None = None,
        refresh: float = 15.0,
        stream: bool = True,
        report: float = 5.0,
    ) -> None:
        """`bootstrap`: a features file (Unleash's shape) answered from until the server is
        reached. `backup`: where the last copy is kept, and read at start when present.
        `refresh`: seconds between polls while the stream is not connected. `report`:
        seconds between reports of observations."""
        self.url, self.refresh, self.streaming = url.rstrip("/"), refresh, stream
        self.headers = {"Authorization": key, "Unleash-Client-Spec": CLIENT_SPEC}
        self.backup = backup
        self.evaluator = Evaluator(ClientFeatures())
        self.source = "none"  # where the answers come from: none, bootstrap, backup, server
        self.etag: str | None = None
        self.problem: str | None = None  # the last failure to reach the server, if any
        self.fetched = threading.Event()
        self.events: httpx.Response | None = None  # the change stream, while connected
        self.stopped = threading.Event()
        self.http = httpx.Client(timeout=httpx.Timeout(5.0, read=STREAM_READ_TIMEOUT))
        for path, source in ((backup, "backup"), (bootstrap, "bootstrap")):
            if path is not None and self.source == "none":
                self._load(path, source)
        self.thread = threading.Thread(target=self._run, name="lockgate-flags", daemon=True)
        self.thread.start()
        self.report_every = report
        self.unsent: list[dict[str, Any]] = []
        self.dropped = 0  # observations lost: too many unsent, or the server unreachable
        self.unsent_lock = threading.Lock()
        self.reporter: threading.Thread | None = None

    # -- answers (never raise) ---------------------------------------------------------------
    def evaluate(self, name: str, context: Context | Mapping[str, Any] | None = None) -> Evaluation:
        try:
            seen = context if isinstance(context, Context) else Context.of(context or {})
            found = self.evaluator.evaluate(name, seen)
        except Exception as exc:  # a broken definition gives the default, with the reason
            return Evaluation(False, disabled(), f"error: {exc}")
        if found.reason == "unknown flag" and self.source == "none":
            return Evaluation(False, disabled(), "no flags yet: the server was not reached")
        return found

    def enabled(
        self, name: str, context: Context | Mapping[str, Any] | None = None, default: bool = False
    ) -> bool:
        found = self.evaluate(name, context)
        return default if found.reason.startswith(UNANSWERED) else found.enabled

    def variant(
        self, name: str, context: Context | Mapping[str, Any] | None = None
    ) -> VariantResult:
        return self.evaluate(name, context).variant

    def wait_until_fetched(self, seconds: float) -> bool:
        return self.fetched.wait(seconds)

    def observe(
        self,
        name: str,
        context: Context | Mapping[str, Any] | None = None,
        *,
        failed: bool = False,
        latency: float | None = None,
    ) -> None:
        """Report a request of the user in `context`: whether it failed, how long it took
        (seconds), and (worked out here) the side of flag `name` the user is on."""
        found = self.evaluate(name, context)
        side = "off" if not found.enabled else found.variant.name if found.variant.enabled else "on"
        seen = {"flag": name, "side": side, "failed": bool(failed), "at": time.monotonic()}
        if latency is not None:
            seen["latency"] = max(0.0, float(latency))
        with self.unsent_lock:
            if len(self.unsent) >= MAX_UNSENT:
                self.dropped += 1
                return
            self.unsent.append(seen)
            if self.reporter is None:
                self.reporter = threading.Thread(
                    target=self._report_loop, name="lockgate-flags-report", daemon=True
                )
                self.reporter.start()

    def close(self) -> None:
        self.stopped.set()
        if self.reporter is not None:
            self.reporter.join(5)
        self.report()  # what the last pass left
        listening = self.events
        if listening is not None:  # end the stream's read now, not at its next keep-alive
            _hang_up(listening)
        self.http.close()
        self.thread.join(5)

    # -- observations ------------------------------------------------------------------------
    def _report_loop(self) -> None:
        while not self.stopped.wait(self.report_every):
            self.report()

    def report(self) -> None:
        """Send what was observed since the last report (lost, and counted, if it fails)."""
        with self.unsent_lock:
            taken, self.unsent = self.unsent, []
        now = time.monotonic()
        for start in range(0, len(taken), BATCH):
            batch = [{**{k: v for k, v in seen.items() if k != "at"}, "age": now - seen["at"]}
                     for seen in taken[start:start + BATCH]]  # fmt: skip
            try:
                answer = self.http.post(
                    f"{self.url}/api/client/observations",
                    json={"observations": batch},
                    headers=self.headers,
                )
                delivered = answer.status_code == 202
            except (httpx.HTTPError, RuntimeError):
                delivered = False
            if not delivered:
                self.dropped += len(batch)

    # -- keeping the copy fresh -------------------------------------------------------------------
    def _run(self) -> None:
        while not self.stopped.is_set():
            self.fetch()
            if self.streaming and self.problem is None and self._follow():
                pause = 0.5  # the stream ended (a restart?): fetch and listen again soon
            else:
                pause = self.refresh if self.problem is None else min(self.refresh, 2.0)
            self.stopped.wait(pause)

    def _follow(self) -> bool:
        """Fetch again at every change the server announces, until the stream ends; whether
        it was connected at all (a server without the stream is polled instead)."""
        connected = False
        try:
            with self.http.stream("GET", f"{self.url}/api/client/stream",
                                  headers=self.headers) as events:  # fmt: skip
                if events.status_code != 200:
                    return False
                connected, self.events = True, events
                for line in events.iter_lines():
                    if self.stopped.is_set():
                        break
                    if line.startswith("data:"):
                        self.fetch()
        except (httpx.HTTPError, RuntimeError, OSError, AttributeError):
            pass  # the server went, or close() closed the stream
        finally:
            self.events = None
        return connected

    def fetch(self) -> None:
        """One fetch of the features (If-None-Match: an unchanged copy costs no body)."""
        headers = {**self.headers, **({"If-None-Match": self.etag} if self.etag else {})}
        try:
            answer = self.http.get(f"{self.url}/api/client/features", headers=headers)
        except (httpx.HTTPError, RuntimeError) as exc:
            self.problem = f"cannot reach {self.url}: {exc}"
            return
        if answer.status_code == 304:
            self.problem = None
            return
        if answer.status_code != 200:
            self.problem = f"{self.url} answered {answer.status_code}: {answer.text[:200]}"
            return
        try:
            state = ClientFeatures.model_validate(answer.json())
        except ValueError as exc:  # keep answering from the copy we have
            self.problem = f"{self.url} sent features that do not parse: {exc}"
            return
        self.evaluator, self.source = Evaluator(state), "server"
        self.etag, self.problem = answer.headers.get("etag"), None
        self.fetched.set()
        if self.backup is not None:
            try:
                replace_whole(self.backup, answer.text)
            except OSError as exc:
                self.problem = f"cannot keep a copy in {self.backup}: {exc}"

    def _load(self, path: Path, source: str) -> None:
        try:
            state = ClientFeatures.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError):
            return  # missing or unreadable: the server's copy will do
        self.evaluator, self.source = Evaluator(state), source


def _hang_up(response: httpx.Response) -> None:
    """Shut the socket under a streaming response: a read blocked in another thread returns
    at once (closing the response alone waits for the next byte)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
