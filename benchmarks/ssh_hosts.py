"""A rollout of 21 instances over 3 SSH hosts against the same rollout on the local target, in
the same sitting (the hosts are sshd servers on 127.0.0.2-4 of this machine, as in the tests);
then the bundle bytes a redeploy of the running digest sends, and the time from a fenced host's
return (its instances a release behind) to every instance serving the desired digest.

Usage (as root, with openssh-server installed): python benchmarks/ssh_hosts.py [--replicas 21]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    LOCKGATE,
    ROOT,
    committed_repo,
    example_app,
    lockgate_json,
    stop_agent,
    warm_server,
)

from lockgate.common.ports import free_port

sys.path.insert(0, str(ROOT))
from tests.e2e.sshd import Host, keygen


def start_hosts(root: Path) -> tuple[list[Host], Path, Path]:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    client = keygen(root / "client")
    (root / "authorized_keys").write_text(client + "\n")
    hosts = [Host.made(root, n) for n in (2, 3, 4)]
    known = root / "known_hosts"
    known.write_text("".join(h.key_line + "\n" for h in hosts))
    return hosts, root / "client", known


def host_return(repo: Path, host: Host, digest: str) -> float:
    """Cut the host, deploy `digest` without it (fenced), bring it back: seconds from its
    return until every instance serves `digest` (status healthy, all in rotation)."""
    host.cut()
    lockgate_json(repo, "deploy", "ssh.yaml", "--artifact", digest)
    host.start()
    back = time.perf_counter()
    while True:
        done = subprocess.run(
            [str(LOCKGATE), "status", "ssh", "-o", "json"], cwd=repo, capture_output=True
        )
        view = json.loads(done.stdout)
        if view["health"] == "healthy" and all(
            i["digest"] == digest and i["in_rotation"] for i in view["instances"]
        ):
            return time.perf_counter() - back
        if time.perf_counter() - back > 300:
            raise SystemExit(f"the host did not converge: {view['reasons']}")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=21)
    args = parser.parse_args()
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        raise SystemExit("needs openssh-server")
    warm_server()
    with tempfile.TemporaryDirectory(prefix="lockgate-ssh-bench-") as tmp:
        root = Path(tmp)
        hosts, identity, known = start_hosts(root)
        repo = committed_repo(root / "repo", {"README": "ssh benchmark\n"})
        try:
            digests = []
            for version in ("1", "2"):
                example_app(repo / f"v{version}", version=version)
                digests.append(lockgate_json(repo, "artifact", "build", f"v{version}")["digest"])
            ssh = {
                "type": "ssh", "user": "root", "identity-file": str(identity),
                "known-hosts": str(known), "replicas": args.replicas,
                "hosts": [h.entry() for h in hosts], "on-host-failure": "fence",
            }  # fmt: skip
            targets = {"local": {"replicas": args.replicas}, "ssh": ssh}
            walls: dict[str, list[float]] = {}
            for name, target in targets.items():
                env = repo / f"{name}.yaml"
                env.write_text(
                    f"app: hello\nenvironment: {name}\ntarget: {json.dumps(target)}\n"
                    f"router: {{port: {free_port()}}}\nstrategy: {{max-surge: 5}}\n"
                )
                lockgate_json(
                    repo, "deploy", str(env), "--artifact", digests[0]
                )  # installs, copies
            for digest in (digests[1], digests[0], digests[1]):  # interleaved: same conditions
                for name in targets:
                    started = time.perf_counter()
                    lockgate_json(repo, "deploy", f"{name}.yaml", "--artifact", digest)
                    walls.setdefault(name, []).append(time.perf_counter() - started)
            local, remote = (statistics.median(walls[n]) for n in ("local", "ssh"))
            print(
                f"rolling of {args.replicas} (max-surge 5): local {local:.2f}s, over 3 SSH hosts "
                f"{remote:.2f}s (medians of 3); ratio {remote / local:.2f}"
            )
            again = lockgate_json(repo, "deploy", "ssh.yaml", "--artifact", digests[1])
            sent = [t for _, t in again["events"] if t.startswith("bundle ")]
            total = sum(int(t.rpartition("(")[2].split()[0]) for t in sent)
            print(f"redeploy of the running digest: {total} bundle bytes sent ({'; '.join(sent)})")
            print(f"host return: {host_return(repo, hosts[2], digests[0]):.2f}s")
        finally:
            stop_agent(repo)
            for name in ("local", "ssh"):
                subprocess.run([str(LOCKGATE), "down", name], cwd=repo, capture_output=True)
            for host in hosts:
                host.stop()
                host.stop_agent()


if __name__ == "__main__":
    main()
