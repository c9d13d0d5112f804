"""SSH hosts as a fleet runs on them.

One pooled connection per host (asyncssh, on an event loop of its own so the reconciler stays
synchronous), its host key verified against known_hosts: an unknown key is refused with the
command that trusts it, a changed key always. At most `max-parallel-hosts` hosts are worked on
at once. On first contact lockgate installs itself on the host, into a virtual environment
under the host's base directory, from a wheel it copies there (the host needs no internet);
bundles are copied once per digest, resumed after a broken transfer and checked by sha256
there. Every operation on instances is a request to `lockgate.hostserver`, run there by that
interpreter for the whole connection. A host that could not be reached is dialled again in the
background, so no pass waits on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from ...common.errors import UserError
from ..envfile import HostSpec, TargetSpec
from .wheel import lockgate_wheel

T = TypeVar("T")
CHUNK = 1 << 20


UNPACK_WHEEL = (
    "import sys, sysconfig, zipfile; "
    "zipfile.ZipFile(sys.argv[1]).extractall(sysconfig.get_paths()['purelib'])"
)


class HostUnreachable(Exception):
    """A host that cannot be reached, did not answer in time, or where a command failed
    (`exit_status`): says which and why."""

    def __init__(self, message: str, exit_status: int | None = None) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def host_name(host: HostSpec) -> str:
    return f"{host.address}:{host.port}"


def base_of(host: HostSpec) -> str:
    assert host.base_dir is not None  # TargetSpec.host_specs fills it in
    return host.base_dir


def _bundle_path(host: HostSpec, digest: str) -> str:
    return f"{base_of(host)}/bundles/{digest}.tar.gz"


class Hosts:
    def __init__(self, spec: TargetSpec) -> None:
        self.spec = spec
        self.all = spec.host_specs()
        self.known_hosts = Path(spec.known_hosts).expanduser()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="lockgate-ssh", daemon=True).start()
        self.connections: dict[str, asyncssh.SSHClientConnection] = {}
        self.bundles: set[tuple[str, str]] = set()  # (host, digest) known to be there
        self.servers: dict[str, asyncssh.SSHClientProcess[str]] = {}  # lockgate.hostside
        self.asking: dict[str, asyncio.Lock] = {}
        self.gate: asyncio.Semaphore | None = None  # made on the loop
        self.last_seen: dict[str, float] = {}  # when each host last answered
        self.lost: dict[str, str] = {}  # unreachable hosts: why
        self.redialing: dict[str, asyncio.Task[None]] = {}

    def _call(self, work: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    # -- connections -------------------------------------------------------------------------
    def _lose(self, host: HostSpec, why: str) -> HostUnreachable:
        name = host_name(host)
        self.connections.pop(name, None)
        self.servers.pop(name, None)
        self.lost[name] = why
        return HostUnreachable(why)

    def _answered(self, host: HostSpec) -> None:
        self.last_seen[host_name(host)] = time.time()
        self.lost.pop(host_name(host), None)

    async def _connect(self, host: HostSpec) -> asyncssh.SSHClientConnection:
        name = host_name(host)
        known = self.connections.get(name)
        if known is not None and not known.is_closed():
            return known
        if name in self.lost:  # dialled again in the background: no pass waits on it
            if name not in self.redialing:
                redial = asyncio.get_running_loop().create_task(self._redial(host))
                self.redialing[name] = redial
            raise HostUnreachable(self.lost[name])
        return await self._dial(host)

    async def _redial(self, host: HostSpec) -> None:
        try:
            await self._dial(host)
        except HostUnreachable:
            pass  # still lost (_dial said why)
        except UserError as exc:  # its key changed meanwhile: it stays out, and says so
            self.lost[host_name(host)] = exc.message
        finally:
            self.redialing.pop(host_name(host), None)

    async def _dial(self, host: HostSpec) -> asyncssh.SSHClientConnection:
        name = host_name(host)
        keys = [str(Path(self.spec.identity_file).expanduser())] if self.spec.identity_file else ()
        try:
            trusted = asyncssh.read_known_hosts(str(self.known_hosts))
        except (OSError, ValueError):
            trusted = asyncssh.import_known_hosts("")
        try:
            connection = await asyncssh.connect(
                host.address,
                port=host.port,
                username=host.user,
                client_keys=keys or None,
                known_hosts=trusted,
                connect_timeout=float(self.spec.connect_timeout),
            )
        except asyncssh.HostKeyNotVerifiable:
            raise self._refused(host) from None
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            raise self._lose(host, f"host {name} cannot be reached: {exc}") from None
        self.connections[name] = connection
        return connection

    def _refused(self, host: HostSpec) -> UserError:
        entry = f"[{host.address}]:{host.port}" if host.port != 22 else host.address
        try:
            trusted = asyncssh.read_known_hosts(str(self.known_hosts))
            known = bool(trusted.match(host.address, host.address, host.port)[0])
        except (OSError, ValueError):
            known = False
        if known:
            return UserError(
                f"the host key of {host_name(host)} changed: refused (it may not be the host "
                "you deployed to)",
                where=str(self.known_hosts),
                hint=f"if the host was reinstalled, check its new key, then `ssh-keygen -R "
                f"'{entry}' -f {self.known_hosts}` and trust it again",
            )
        return UserError(
            f"the host key of {host_name(host)} is not known: refused",
            where=str(self.known_hosts),
            hint=f"check its fingerprint, then `ssh-keyscan -p {host.port} {host.address} >> "
            f"{self.known_hosts}`",
        )

    async def _run(self, host: HostSpec, command: str, stdin: str | None, timeout: float) -> str:
        if self.gate is None:
            self.gate = asyncio.Semaphore(self.spec.max_parallel_hosts)
        async with self.gate:
            connection = await self._connect(host)
            try:
                done = await connection.run(command, input=stdin, timeout=timeout, check=False)
            except (TimeoutError, OSError, asyncssh.Error) as exc:
                raise self._lose(host, f"host {host_name(host)}: {exc}") from None
        if done.exit_status is None:  # no status: the connection went while it ran
            lost = f"the connection was lost during `{command[:60]}`"
            raise self._lose(host, f"host {host_name(host)} cannot be reached: {lost}")
        if done.exit_status != 0:
            raise HostUnreachable(
                f"host {host_name(host)}: `{command}` exited {done.exit_status}: "
                f"{str(done.stderr)[-400:].strip()}",
                done.exit_status,
            )
        return str(done.stdout)

    def run(
        self, host: HostSpec, command: str, stdin: str | None = None, timeout: float = 60
    ) -> str:
        """Run a shell command there; its output. HostUnreachable when it cannot."""
        return self._call(self._run(host, command, stdin, timeout), timeout + 30)

    # -- what a host holds ---------------------------------------------------------------------
    def install(self, host: HostSpec) -> str:
        """Install lockgate on the host (a venv named after the wheel); its interpreter."""
        wheel = lockgate_wheel()
        venv = f"{base_of(host)}/lockgate/{wheel.stem}"
        remote = f"{base_of(host)}/lockgate/{wheel.name}"
        self.put(host, wheel, remote, hashlib.sha256(wheel.read_bytes()).hexdigest())
        # A pure wheel of our own making is installed by unpacking it into the venv's
        # site-packages: no pip in the venv (ensurepip takes seconds per host).
        self.run(
            host,
            f"rm -rf {shlex.quote(venv)} && python3 -m venv --without-pip {shlex.quote(venv)} "
            f"&& {shlex.quote(venv)}/bin/python -c {shlex.quote(UNPACK_WHEEL)} "
            f"{shlex.quote(remote)}",
            timeout=300,
        )
        return f"{venv}/bin/python"

    def bundle(self, host: HostSpec, path: Path, digest: str) -> str:
        """The bundle's path on the host, copied there unless it already has the digest."""
        if (host_name(host), digest) not in self.bundles:
            self.send_bundle(host, path, digest)
        return _bundle_path(host, digest)

    def send_bundle(self, host: HostSpec, path: Path, digest: str) -> int:
        """Make sure the host holds the bundle; the bytes that took (0: it had it)."""
        sent = self.put(host, path, _bundle_path(host, digest), digest)
        self.bundles.add((host_name(host), digest))
        return sent

    def put(self, host: HostSpec, local: Path, remote: str, sha256: str) -> int:
        """Copy `local` to `remote` unless the file there has `sha256` already; a partial copy
        is resumed; the result is checked there before it takes its name. The bytes sent."""
        return self._call(self._put(host, local, remote, sha256), 600)

    async def _put(self, host: HostSpec, local: Path, remote: str, sha256: str) -> int:
        quoted, partial = shlex.quote(remote), shlex.quote(f"{remote}.part")
        probe = (
            f"echo have=$(sha256sum {quoted} 2>/dev/null | cut -c1-64); "
            f"echo part=$(stat -c %s {partial} 2>/dev/null); "
            f"mkdir -p {shlex.quote(remote.rpartition('/')[0])}"
        )
        found = dict(
            line.split("=", 1)
            for line in (await self._run(host, probe, None, 60)).splitlines()
            if "=" in line
        )
        if found.get("have") == sha256:
            return 0
        data = local.read_bytes()
        offset = int(found["part"]) if found.get("part", "").isdigit() else 0
        if 0 < offset <= len(data):  # resume only what is a true beginning of this file
            there = await self._run(host, f"head -c {offset} {partial} | sha256sum", None, 60)
            offset = offset if there[:64] == hashlib.sha256(data[:offset]).hexdigest() else 0
        else:
            offset = 0
        connection = await self._connect(host)
        try:
            async with (
                connection.start_sftp_client() as sftp,
                sftp.open(f"{remote}.part", "ab" if offset else "wb") as out,
            ):
                for start in range(offset, len(data), CHUNK):
                    await out.write(data[start : start + CHUNK])
        except (OSError, asyncssh.Error) as exc:
            raise self._lose(host, f"host {host_name(host)}: copying {local.name}: {exc}") from None
        check = (
            f'test "$(sha256sum {partial} | cut -c1-64)" = {sha256} && mv {partial} {quoted} '
            f"|| {{ rm -f {partial}; echo 'the copy of {local.name} does not match' >&2; exit 1; }}"
        )
        await self._run(host, check, None, 120)
        return len(data) - offset

    def hostside(self, host: HostSpec, request: dict[str, Any], timeout: float = 60) -> Any:
        """lockgate.hostserver's answer to one request, from the process serving this host
        (started on first use; lockgate is installed there first when it is missing)."""
        return self._call(self._ask(host, request, timeout), timeout + 30)

    async def _ask(self, host: HostSpec, request: dict[str, Any], timeout: float) -> Any:
        lock = self.asking.setdefault(host_name(host), asyncio.Lock())
        async with lock:  # one request at a time on a host's channel
            was_lost = host_name(host) in self.lost
            try:
                answer = await self._exchange(host, request, timeout)
            except HostUnreachable:
                if was_lost:
                    raise
                # A dropped channel (a killed server, a reset connection) is not yet a lost
                # host: once more on a fresh connection. Requests are idempotent there.
                self.lost.pop(host_name(host), None)
                answer = await self._exchange(host, request, timeout)
            if answer is None:  # lockgate is not there yet
                await asyncio.get_running_loop().run_in_executor(None, self.install, host)
                answer = await self._exchange(host, request, timeout)
            if answer is None:
                raise HostUnreachable(f"host {host_name(host)}: lockgate did not install")
            self._answered(host)
            return answer

    async def _exchange(self, host: HostSpec, request: dict[str, Any], timeout: float) -> Any:
        """The answer; None when lockgate's interpreter is missing there (the shell's 127)."""
        return await self._answer(host, await self._server(host), request, timeout)

    async def _answer(
        self,
        host: HostSpec,
        server: asyncssh.SSHClientProcess[str],
        request: dict[str, Any],
        timeout: float,
    ) -> Any:
        name = host_name(host)
        try:
            server.stdin.write(json.dumps(request) + "\n")
        except (OSError, asyncssh.Error):
            line = ""  # it ended before reading (a fresh host's shell: 127 at once); why below
        else:
            try:
                line = await asyncio.wait_for(server.stdout.readline(), timeout)
            except (TimeoutError, OSError, asyncssh.Error) as exc:
                raise self._lose(host, f"host {name}: {exc or 'no answer in time'}") from None
        if line:
            return json.loads(line)
        self.servers.pop(name, None)
        try:
            await asyncio.wait_for(server.wait_closed(), timeout)
        except TimeoutError:
            raise self._lose(host, f"host {name}: lockgate.hostserver did not end") from None
        if server.exit_status == 127:
            return None
        why = "the connection was lost" if server.exit_status is None else (
            f"lockgate.hostserver exited {server.exit_status}: "
            f"{(await server.stderr.read())[-400:]}"
        )  # fmt: skip
        raise self._lose(host, f"host {name}: {why}")

    async def _server(self, host: HostSpec) -> asyncssh.SSHClientProcess[str]:
        name = host_name(host)
        known = self.servers.get(name)
        if known is not None and not known.is_closing():
            return known
        python = f"{base_of(host)}/lockgate/{lockgate_wheel().stem}/bin/python"
        connection = await self._connect(host)
        command = f"{shlex.quote(python)} -m lockgate.hostserver {shlex.quote(base_of(host))}"
        try:
            server = await connection.create_process(command)
        except (OSError, asyncssh.Error) as exc:
            raise self._lose(host, f"host {name}: {exc}") from None
        self.servers[name] = server
        return server
