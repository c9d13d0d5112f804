"""Policy evaluation time per deploy (target: under 10 ms), against what a deploy already pays;
and break-glass, from the decision to its effect (target: under 5 s).

The three example policies (examples/policies: residency, provenance, freeze) are asked about
a deploy of the example app to an EU environment on 21 SSH hosts, as `Environment.deploy`
asks: the folder read, then one evaluation. Reported: the first decision of a process
(compiling the set) and a warm one (median of `--repeat`), beside the baseline every deploy
already pays in the same sitting: verifying the bundle's signed provenance.

Break-glass: a deploy of EU personal data to a US region is refused; then `lockgate override`
runs (the user's command, warm server) and the gate is asked until it lets the deploy
through: that time is the decision to effect. A drill's stages are shown beside it.

Usage: python benchmarks/policy.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import LOCKGATE, ROOT, committed_repo, example_app, lockgate_json, median_seconds

from lockgate.artifacts import signed
from lockgate.deploy.envfile import EnvironmentFile
from lockgate.deploy.policy import gate
from lockgate.deploy.releases import Releases
from lockgate.deploy.service import DeployService
from lockgate.store.database import Store, default_url
from lockgate.store.deployments import DeploymentRecords

HOSTS = [{"address": f"10.0.0.{i}", "labels": {"jurisdiction": "eu"}} for i in range(1, 22)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lockgate-policy-bench-") as tmp:
        repo = committed_repo(Path(tmp) / "repo", {"README": "policy benchmark\n"})
        shutil.copytree(ROOT / "examples" / "policies", repo / "policies")
        app = example_app(repo / "app")
        manifest = app / "lockgate-app.yaml"
        manifest.write_text(manifest.read_text() + "labels: {data-classification: eu-personal}\n")
        digest = str(lockgate_json(repo, "artifact", "build", str(app))["digest"])
        state = repo / ".lockgate"
        spec = EnvironmentFile.model_validate({
            "app": "hello",
            "labels": {"tier": "production"},
            "region": {"name": "eu-west", "labels": {"jurisdiction": "eu"}},
            "audit-log": {"region": "eu-west"},
            "target": {"type": "ssh", "hosts": HOSTS},
        })  # fmt: skip
        application = Releases(state, Path(tmp) / "manifests").app(digest)

        def decide() -> None:
            gate.check(state, "prod-eu", spec, application, digest, "deploy", "bench")

        started = time.perf_counter()
        decide()
        cold = time.perf_counter() - started
        warm = median_seconds(decide, args.repeat)
        baseline = median_seconds(lambda: signed.verify_stored(digest, state, []), args.repeat)
        effect, drill = break_glass(repo, digest)
    print(
        f"break-glass: decision to effect {effect:.2f}s ({effect / 5:.2f}x the 5 s target); "
        "drill stages: " + ", ".join(f"{s['name']} {s['seconds'] * 1e3:.1f} ms" for s in drill)
    )
    print(
        f"policy decision per deploy (3 example policies, 21 hosts): warm {warm * 1e3:.2f} ms "
        f"({warm / 0.010:.2f}x the 10 ms target); first in a process {cold * 1e3:.1f} ms"
    )
    print(
        f"baseline, the provenance check every deploy pays: {baseline * 1e3:.2f} ms; "
        f"policy / provenance = {warm / baseline:.2f}"
    )


def break_glass(repo: Path, digest: str) -> tuple[float, list[dict]]:  # type: ignore[type-arg]
    """Seconds from `lockgate override` starting to the gate letting the deploy through, and
    the stages of a drill."""
    (repo / "us.yaml").write_text(
        "app: hello\nenvironment: us\nregion: {name: us-east, labels: {jurisdiction: us}}\n"
        "audit-log: {region: us-east}\n"
    )
    refused = subprocess.run([str(LOCKGATE), "deploy", "us.yaml", "--artifact", digest],
                             cwd=repo, capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr
    service = DeployService(repo, DeploymentRecords(Store(default_url(repo))))
    spec = service.named("us").spec
    started = time.perf_counter()
    lockgate_json(repo, "override", "us", "--reason", "benchmark", "--ttl", "1m")
    while service.refusal("us", spec, digest, "bench", action="deploy") is not None:
        time.sleep(0.01)
    effect = time.perf_counter() - started
    drill = lockgate_json(repo, "override", "us", "--drill", "--reason", "drill", "--ttl", "1m")
    return effect, list(drill["stages"])


if __name__ == "__main__":
    main()
