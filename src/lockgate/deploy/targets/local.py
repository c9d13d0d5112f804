"""The `local` target: each instance is a process group on this machine, in its own unpacked
release directory, listening on its own port.

Layout under the environment's directory: instances/<slot>/releases/<digest>/ (the unpacked
bundle plus .lockgate-digest) and instances/<slot>/<instance id>.log. Every instance process
carries LOCKGATE_FLEET and LOCKGATE_INSTANCE_ID in its environment, so instances whose record
was lost (lockgate killed between starting one and writing its pid) can still be found.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

from ...archive import UnsafeArchive, unpack
from ...artifacts.manifest import AppManifest
from ...processes import group_alive, kill_group
from ...runtime import free_port
from ..httpcheck import status_of
from .base import Observed, Started, StartFailed

DIGEST_FILE = ".lockgate-digest"


class LocalTarget:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def release(self, slot: int, bundle: Path, digest: str) -> Path:
        release = self.directory / "instances" / str(slot) / "releases" / digest
        if (release / DIGEST_FILE).is_file():
            return release
        temp = release.with_name(f".{digest}.{os.getpid()}")
        try:
            unpack(bundle.read_bytes(), temp)
            (temp / DIGEST_FILE).write_text(digest + "\n")
            os.replace(temp, release)
        except (OSError, UnsafeArchive, tarfile.TarError) as exc:
            shutil.rmtree(temp, ignore_errors=True)
            raise StartFailed(f"bundle {digest[:12]} refused: cannot unpack it: {exc}") from exc
        return release

    def start(
        self, instance_id: str, slot: int, bundle: Path, digest: str, app: AppManifest
    ) -> Started:
        release = self.release(slot, bundle, digest)
        port = free_port()
        env = {
            **os.environ,
            "PORT": str(port),
            "LOCKGATE_INSTANCE": str(slot),
            "LOCKGATE_DIGEST": digest,
            "LOCKGATE_INSTANCE_ID": instance_id,
            "LOCKGATE_FLEET": str(self.directory),
        }
        log = release.parent.parent / f"{instance_id}.log"
        try:
            with log.open("ab") as out:
                process = subprocess.Popen(
                    ["bash", "-c", app.start],
                    cwd=release,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
        except OSError as exc:
            raise StartFailed(f"cannot start `{app.start}`: {exc}") from exc
        return Started(instance_id, slot, digest, f"127.0.0.1:{port}", process.pid, str(release))

    def ready(self, address: str, app: AppManifest) -> bool:
        status = status_of(address, app.readiness)
        return status is not None and 200 <= status < 300

    def observe(self, pid: int | None, address: str, app: AppManifest) -> Observed:
        if not pid or not group_alive(pid) or _zombie(pid):
            return Observed(False, None, False)
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            digest: str | None = (cwd / DIGEST_FILE).read_text().strip()
        except OSError:
            digest = None
        return Observed(True, digest, self.ready(address, app))

    def stop(self, pids: list[int | None], app: AppManifest) -> None:
        running = [pid for pid in pids if pid and group_alive(pid)]
        for pid in running:
            kill_group(pid, app.signal_number)
        deadline = time.monotonic() + float(app.grace_seconds)
        while time.monotonic() < deadline:
            running = [pid for pid in running if group_alive(pid) and not _zombie(pid)]
            if not running:
                break
            time.sleep(0.02)
        for leftover in pids:
            if leftover:
                kill_group(leftover, signal.SIGKILL)  # whatever the group left behind

    def sweep(self, keep: set[str]) -> list[str]:
        marker = f"LOCKGATE_FLEET={self.directory}".encode()
        stopped = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker not in environ:
                continue
            prefix = b"LOCKGATE_INSTANCE_ID="
            ids = [v.removeprefix(prefix).decode() for v in environ if v.startswith(prefix)]
            if ids and ids[0] not in keep:
                with contextlib.suppress(ProcessLookupError):
                    kill_group(os.getpgid(int(entry.name)))
                stopped.append(ids[0])
        return sorted(set(stopped))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return True
