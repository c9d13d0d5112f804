"""GitOps, timed in one sitting, each figure beside the baseline it is judged against.

1. A commit pushed -> the environment converged: woken by `lockgate gitops notify` (what a
   post-receive hook or a webhook does), and found by polling (`interval`). Baseline: the
   rollout alone (the deployment record's own start to finish).
2. Drift made by hand (`lockgate deploy` of another digest) -> reported OutOfSync, and, with
   self-heal, -> healed (the self-heal rollout succeeded). Baseline: the poll interval.
3. One sync pass over 50 environments of one repository that match git (no change), and
   `lockgate plan` over them. Baseline: `lockgate status` of the same 50 (the look a pass
   takes anyway).

Usage: python benchmarks/gitops.py [--environments 50] [--interval 10] [--replicas 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import (
    LOCKGATE,
    committed_repo,
    example_app,
    lockgate_json,
    median_seconds,
    stop_agent,
)

from lockgate.common.ports import free_port
from lockgate.deploy.gitops.sync import GitopsSync
from lockgate.deploy.service import DeployService
from lockgate.store import Store
from lockgate.store.database import default_url
from lockgate.store.deployments import DeploymentRecords, Rollout, RolloutStatus
from lockgate.store.gitops import GitopsRecords, SyncStatus
from lockgate.workflow.project import load_project

IDENTITY = ["-c", "user.name=Bench Ops", "-c", "user.email=bench@example.com"]


def git(where: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(where), *IDENTITY, *args], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout.strip()


class Config:
    """A bare config repository and a clone that pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "config.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        self.clone = root / "clone"
        subprocess.run(["git", "clone", "-q", str(self.bare), str(self.clone)], check=True,
                       capture_output=True)  # fmt: skip
        git(self.clone, "checkout", "-q", "-b", "main")

    def push(self, files: dict[str, str]) -> str:
        for name, text in files.items():
            (self.clone / name).parent.mkdir(parents=True, exist_ok=True)
            (self.clone / name).write_text(text)
        git(self.clone, "add", "-A")
        git(self.clone, "commit", "-qm", "bench")
        git(self.clone, "push", "-q", "origin", "HEAD:main")
        return git(self.clone, "rev-parse", "HEAD")


def env_file(digest: str, port: int, replicas: int) -> str:
    return (f"digest: {digest}\nrouter: {{port: {port}}}\ntarget: {{replicas: {replicas}}}\n"
            "strategy: {type: rolling, max-surge: 1}\n")  # fmt: skip


def checkout(root: Path, bare: Path, interval: float) -> tuple[Path, str, str]:
    """The deploying checkout following `bare`, with bundles v1 and v2 built: (dir, v1, v2)."""
    settings = f"gitops: {{repository: {bare}, branch: main, path: envs, interval: {interval}}}\n"
    repo = committed_repo(root, {"lockgate.yml": settings})
    digests = []
    for version in ("1", "2"):
        app = example_app(root / f"v{version}", version=version)
        digests.append(lockgate_json(repo, "artifact", "build", str(app))["digest"])
    return repo, digests[0], digests[1]


def wait(check: Callable[[], object], seconds: float = 120) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            raise SystemExit("not converged in time")
        time.sleep(0.02)
    return time.monotonic() - start


def converged(records: DeploymentRecords, env: str, commit: str) -> Rollout | None:
    latest = records.latest(env)
    if latest and latest.config_commit == commit and latest.status == RolloutStatus.SUCCEEDED:
        return latest
    return None


def push_to_converged(args: argparse.Namespace, root: Path) -> None:
    config = Config(root)
    repo, v1, v2 = checkout(root / "deploy", config.bare, args.interval)
    records = DeploymentRecords(Store(default_url(repo)))
    port = free_port()
    try:
        web = "envs/environments/web.yaml"
        first = config.push(
            {"envs/base.yaml": "app: hello\n", web: env_file(v1, port, args.replicas)}
        )
        subprocess.run([str(LOCKGATE), "gitops", "sync"], cwd=repo, capture_output=True)
        wait(lambda: converged(records, "web", first))
        hook: list[float] = []
        polled: list[float] = []
        alone: list[float] = []
        for round_ in range(args.rounds):
            for woken in (True, False):
                digest = v2 if (round_ * 2 + woken) % 2 else v1
                start = time.monotonic()
                commit = config.push({web: env_file(digest, port, args.replicas)})
                if woken:
                    subprocess.run([str(LOCKGATE), "gitops", "notify"], cwd=repo, check=True)
                wait(lambda: converged(records, "web", commit))  # noqa: B023 - called at once
                took = time.monotonic() - start
                rollout = converged(records, "web", commit)
                assert rollout is not None and rollout.finished_at is not None
                alone.append(rollout.finished_at - rollout.started_at)
                (hook if woken else polled).append(took)
        rollout_alone = statistics.median(alone)
        print(f"push -> converged, {args.replicas} instances, rolling, interval {args.interval:g}s "
              f"(medians of {args.rounds}):")  # fmt: skip
        print(f"  rollout alone (deployment start -> succeeded)  {rollout_alone:6.2f} s")
        for name, found in (("woken (notify / webhook)", hook), ("by polling", polled)):
            median = statistics.median(found)
            print(f"  {name:44} {median:6.2f} s  ({median / rollout_alone:.2f}x the rollout)")

        # drift by hand: reported, then healed once self-heal is on
        gitops = GitopsRecords(Store(default_url(repo)))
        now_digest = records.latest("web").digest  # type: ignore[union-attr]
        other = v2 if now_digest == v1 else v1
        start = time.monotonic()
        subprocess.run([str(LOCKGATE), "deploy", "web", "--artifact", other], cwd=repo,
                       capture_output=True, check=True)  # fmt: skip
        by_hand = time.monotonic() - start
        wait(lambda: (e := gitops.environment("web")) is not None
             and e.sync == SyncStatus.OUT_OF_SYNC
             and any(d.field == "digest" for d in e.differences))  # fmt: skip
        reported = time.monotonic() - start
        heal = config.push({"envs/lockgate-gitops.yaml": "sync: {self-heal: true}\n"})
        subprocess.run([str(LOCKGATE), "gitops", "notify"], cwd=repo, check=True)
        wait(lambda: converged(records, "web", heal))
        before = records.latest("web").id  # type: ignore[union-attr]
        start = time.monotonic()  # the hand deploy is superseded by the heal (it exits 1)
        subprocess.run([str(LOCKGATE), "deploy", "web", "--artifact", other], cwd=repo,
                       capture_output=True)  # fmt: skip

        def healed_now() -> bool:
            found = records.latest("web")
            return bool(found and found.id > before + 1 and found.digest == now_digest
                        and found.status == RolloutStatus.SUCCEEDED)  # fmt: skip

        wait(healed_now)
        healed = time.monotonic() - start
        print(f"drift by hand (its deploy took {by_hand:.2f} s), from its start:")
        print(f"  -> reported {reported:5.2f} s, -> healed {healed:5.2f} s "
              f"(poll interval {args.interval:g} s: {reported / args.interval:.2f}x, "
              f"{healed / args.interval:.2f}x)")  # fmt: skip
    finally:
        subprocess.run([str(LOCKGATE), "down", "web"], cwd=repo, capture_output=True)
        stop_agent(repo)


def many_environments(args: argparse.Namespace, root: Path) -> None:
    config = Config(root)
    repo, v1, _ = checkout(root / "deploy", config.bare, 3600)  # passes taken here only
    records = DeploymentRecords(Store(default_url(repo)))
    names = [f"env{i:02d}" for i in range(args.environments)]
    files = {"envs/base.yaml": "app: hello\n"}
    files |= {f"envs/environments/{n}.yaml": env_file(v1, free_port(), 1) for n in names}
    commit = config.push(files)
    try:
        subprocess.run([str(LOCKGATE), "gitops", "sync"], cwd=repo, capture_output=True)
        wait(lambda: all(converged(records, n, commit) for n in names), 600)
        service = DeployService(repo, records)
        settings = load_project(repo).gitops
        assert settings is not None
        sync = GitopsSync(service, settings, GitopsRecords(records.store))

        def status() -> None:
            subprocess.run([str(LOCKGATE), "status", "-o", "json"], cwd=repo, capture_output=True)

        def plan() -> None:
            done = subprocess.run([str(LOCKGATE), "plan"], cwd=repo, capture_output=True)
            assert done.returncode == 0, done.stdout + done.stderr

        def one_pass() -> None:
            report = sync.run()
            assert not report.actions, report.actions
            assert all(e.sync == SyncStatus.SYNCED for e in report.environments)

        look = median_seconds(status, 3)
        passed = median_seconds(one_pass, 5)
        planned = median_seconds(plan, 3)
        print(f"{args.environments} environments in one repository, all in sync:")
        print(f"  lockgate status (all)   {look:6.2f} s  (baseline)")
        print(f"  one sync pass           {passed:6.2f} s  ({passed / look:.2f}x)")
        print(f"  lockgate plan           {planned:6.2f} s  ({planned / look:.2f}x)")
    finally:
        for name in names:
            subprocess.run([str(LOCKGATE), "down", name], cwd=repo, capture_output=True)
        stop_agent(repo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--environments", type=int, default=50)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        push_to_converged(args, Path(temp) / "one")
        many_environments(args, Path(temp) / "many")


if __name__ == "__main__":
    main()
