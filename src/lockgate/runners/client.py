"""A worker's side of the server's worker API (`server/workers.py`): connect-out HTTP with the
worker's token, retried while the server is away (a restart), so nothing a job records is lost
to a blip. A 409 means the job is not this worker's any more (it was cancelled before the
claim, or sent again after this worker was taken for lost)."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx

from ..common.errors import UserError
from .bound import http_transport
from .payload import Beat, Claimed, Heartbeat, HeartbeatReply, Record, Records

RETRY_FOR = 120.0  # seconds a call is retried while the server cannot be reached


class NotOurs(Exception):
    """The server no longer has this job as this worker's."""


class WorkerClient:
    def __init__(self, server: str, token: str, address: str | None = None) -> None:
        self.http = httpx.Client(base_url=server.rstrip("/"), timeout=60.0,
                                 headers={"authorization": f"Bearer {token}"},
                                 transport=http_transport(address))  # fmt: skip

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + RETRY_FOR
        delay = 0.2
        while True:
            try:
                answer = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 3.0)
                continue
            if answer.status_code in (401, 403):
                raise UserError(f"the server refused this worker's token ({answer.status_code})",
                                where="--token-file", hint="create one with `lockgate token "
                                "create NAME --role worker` on the server")  # fmt: skip
            if answer.status_code in (404, 409):
                raise NotOurs(answer.text)
            if answer.status_code >= 500 and time.monotonic() < deadline:
                time.sleep(delay)
                continue
            answer.raise_for_status()
            return answer

    # -- the worker ---------------------------------------------------------------------------
    def heartbeat(self, beat: Heartbeat) -> HeartbeatReply:
        answer = self._call("POST", "/api/v1/worker/heartbeat", json=beat.model_dump())
        return HeartbeatReply.model_validate_json(answer.content)

    def drain(self) -> None:
        self._call("POST", "/api/v1/worker/drain")

    # -- one job ------------------------------------------------------------------------------
    def claim(self, assignment: int, attempt: int) -> Claimed | None:
        try:
            answer = self._call("POST", f"/api/v1/worker/assignments/{assignment}/claim",
                                json={"attempt": attempt})  # fmt: skip
        except NotOurs:
            return None
        return Claimed.model_validate_json(answer.content)

    def beat(self, assignment: int) -> Beat:
        answer = self._call("POST", f"/api/v1/worker/assignments/{assignment}/beat")
        return Beat.model_validate_json(answer.content)

    def record(self, assignment: int, records: list[Record]) -> list[int | None]:
        """The records, in order; what each made (a step's row), else None."""
        body = Records(records=records).model_dump_json()
        answer = self._call("POST", f"/api/v1/worker/assignments/{assignment}/records",
                            content=body, headers={"content-type": "application/json"})  # fmt: skip
        made: list[int | None] = answer.json()["made"]
        return made

    def tests(self, assignment: int, path: str, body: str) -> bytes:
        """A call about the job's test results (`path` under the assignment); its answer."""
        answer = self._call("POST", f"/api/v1/worker/assignments/{assignment}/tests/{path}",
                            content=body, headers={"content-type": "application/json"})  # fmt: skip
        return answer.content

    def finish(self, assignment: int) -> None:
        self._call("POST", f"/api/v1/worker/assignments/{assignment}/finish")

    def source(self, assignment: int, into: Path) -> None:
        """The commit, as a git bundle, written to `into`."""
        with into.open("wb") as out:
            answer = self._call("GET", f"/api/v1/worker/assignments/{assignment}/source")
            out.write(answer.content)

    def artifacts(self, assignment: int, into: Path) -> None:
        """The run's artifacts so far (a tar), unpacked into `into`."""
        answer = self._call("GET", f"/api/v1/worker/assignments/{assignment}/artifacts")
        into.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:*") as tar:
            tar.extractall(into, filter="data")

    def upload(self, assignment: int, name: str, directory: Path) -> None:
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w:gz") as tar:
            tar.add(directory, arcname=".")
        self._call("PUT", f"/api/v1/worker/assignments/{assignment}/artifacts/{name}",
                   content=packed.getvalue(),
                   headers={"content-type": "application/gzip"})  # fmt: skip
