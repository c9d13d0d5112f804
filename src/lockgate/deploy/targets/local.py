"""The `local` target: each instance is a process group on this machine, in its own unpacked
release directory, listening on its own port. Its reference is the process group's id.

Layout under the environment's directory: instances/<slot>/releases/<digest>/ (the unpacked
bundle plus .lockgate-digest) and instances/<slot>/<instance id>.log. Every instance process
carries LOCKGATE_FLEET and LOCKGATE_INSTANCE_ID in its environment, so instances whose record
was lost (lockgate killed between starting one and writing its reference) can still be found.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tarfile
from pathlib import Path

from ...archive import UnsafeArchive, unpack
from ...artifacts.manifest import AppManifest
from ...processes import detached, group_alive, kill_group
from ...runtime import free_port
from ...store.deployments import Instance
from ..httpcheck import status_of
from .base import Observed, Placed, StartFailed

DIGEST_FILE = ".lockgate-digest"
PROBE_TIMEOUT = 1.0


class LocalTarget:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.children: dict[int, subprocess.Popen[bytes]] = {}  # reaped as they are observed

    def release(self, slot: int, bundle: Path, digest: str) -> Path:
        """The slot's unpacked release of `digest`; unpacked again when it was changed."""
        release = self.directory / "instances" / str(slot) / "releases" / digest
        with contextlib.suppress(OSError):
            if (release / DIGEST_FILE).read_text().strip() == digest:
                return release
        temp = release.with_name(f".{digest}.{os.getpid()}")
        try:
            shutil.rmtree(temp, ignore_errors=True)
            unpack(bundle.read_bytes(), temp)
            (temp / DIGEST_FILE).write_text(digest + "\n")
            if release.is_dir() and not release.is_symlink():
                shutil.rmtree(release)  # a changed copy (drift) is replaced whole
            os.replace(temp, release)
        except (OSError, UnsafeArchive, tarfile.TarError) as exc:
            shutil.rmtree(temp, ignore_errors=True)
            raise StartFailed(f"bundle {digest[:12]} refused: cannot unpack it: {exc}") from exc
        return release

    def start(self, instance: Instance, bundle: Path, app: AppManifest) -> Placed:
        release = self.release(instance.slot, bundle, instance.digest)
        port = free_port()
        env = {
            **detached(os.environ),
            "PORT": str(port),
            "LOCKGATE_INSTANCE": str(instance.slot),
            "LOCKGATE_DIGEST": instance.digest,
            "LOCKGATE_INSTANCE_ID": instance.id,
            "LOCKGATE_FLEET": str(self.directory),
        }
        try:
            with self._log(instance).open("ab") as out:
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
        self.children[process.pid] = process
        return Placed(str(process.pid), f"127.0.0.1:{port}")

    def _log(self, instance: Instance) -> Path:
        return self.directory / "instances" / str(instance.slot) / f"{instance.id}.log"

    def log_of(self, instance: Instance) -> str:
        return str(self._log(instance))

    def _alive(self, pgid: int) -> bool:
        child = self.children.get(pgid)
        if child is not None and child.poll() is not None:
            del self.children[pgid]  # reaped: no zombie is left behind by a long-lived agent
        return group_alive(pgid) and not _zombie(pgid)

    def observe(self, instance: Instance, app: AppManifest, probe: bool = True) -> Observed:
        pgid = _pgid(instance)
        if pgid is None or not self._alive(pgid):
            return Observed(False, None, False)
        try:
            cwd = Path(os.readlink(f"/proc/{pgid}/cwd"))
            digest: str | None = (cwd / DIGEST_FILE).read_text().strip()
        except OSError:
            digest = None
        ready = False
        if probe and instance.address:
            status = status_of(instance.address, app.readiness, PROBE_TIMEOUT)
            ready = status is not None and 200 <= status < 300
        return Observed(True, digest, ready)

    def signal_stop(self, instance: Instance, app: AppManifest) -> None:
        pgid = _pgid(instance)
        if pgid is not None:
            kill_group(pgid, app.signal_number)

    def kill(self, instance: Instance) -> None:
        pgid = _pgid(instance)
        if pgid is not None:
            kill_group(pgid, signal.SIGKILL)
            self._alive(pgid)  # reap it

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


def _pgid(instance: Instance) -> int | None:
    return int(instance.ref) if instance.ref and instance.ref.isdigit() else None


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return True
