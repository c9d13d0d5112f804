"""A burst of webhook deliveries against `lockgate serve`: 200 distinct GitHub push deliveries
and 50 redeliveries of them, sent by 20 clients at once, paced over 10 seconds. Every
distinct delivery must be queued exactly once and every redelivery recognised. Reports the
rate and the answer times, against a GET /healthz round trip in the same run as the baseline.

Usage: python benchmarks/server_burst.py (the server runs with no workers: only queueing is
measured)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from common import LOCKGATE, api_token, serving

SECRET = "burst-secret"
DISTINCT, REPEATED, CLIENTS, SECONDS = 200, 50, 20, 10.0


def delivery(number: int) -> tuple[bytes, dict[str, str]]:
    payload = {"ref": "refs/heads/main", "before": "a" * 40, "after": f"{number + 1:040x}",
               "repository": {"clone_url": "https://example.invalid/o/r.git",
                              "full_name": "o/r"}}  # fmt: skip
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"x-github-event": "push", "x-github-delivery": f"burst-{number}",
                  "x-hub-signature-256": signature, "content-type": "application/json"}  # fmt: skip


async def burst(url: str) -> tuple[list[int], list[float], float]:
    numbers = list(range(DISTINCT)) + random.Random(3).sample(range(DISTINCT), REPEATED)
    random.Random(4).shuffle(numbers)
    codes: list[int] = []
    times: list[float] = []
    gap = SECONDS / len(numbers)
    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        gate = asyncio.Semaphore(CLIENTS)

        async def send(index: int, number: int) -> None:
            await asyncio.sleep(index * gap)  # paced: the whole burst within SECONDS
            body, headers = delivery(number)
            async with gate:
                sent = time.perf_counter()
                answer = await client.post(f"{url}/webhooks/github", content=body, headers=headers)
                times.append(time.perf_counter() - sent)
                codes.append(answer.status_code)

        await asyncio.gather(*(send(i, n) for i, n in enumerate(numbers)))
    return codes, times, time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lockgate-burst-") as tmp:
        home = Path(tmp) / "home"
        token = api_token(home, "bench")
        registered = subprocess.run(
            [str(LOCKGATE), "repo", "add", "https://example.invalid/o/r.git", "--forge", "github",
             "--home", str(home)], capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert registered.returncode == 0, registered.stderr
        with serving(home, 0, env={"LOCKGATE_WEBHOOK_SECRET": SECRET}) as url:
            baseline = []
            with httpx.Client(timeout=10) as client:  # kept alive, as the burst's clients are
                for _ in range(50):
                    sent = time.perf_counter()
                    client.get(f"{url}/healthz")
                    baseline.append(time.perf_counter() - sent)
            codes, times, spent = asyncio.run(burst(url))
            queued = httpx.get(
                f"{url}/api/v1/queue?limit=1000", timeout=30,
                headers={"Authorization": f"Bearer {token}"},
            ).json()  # fmt: skip
    deliveries = {item["trigger"]["delivery"] for item in queued}
    print(f"{len(codes)} deliveries in {spent:.1f}s ({len(codes) / spent:.0f}/s): "
          f"{codes.count(201)} queued, {codes.count(200)} recognised as redeliveries, "
          f"{len(codes) - codes.count(201) - codes.count(200)} refused")  # fmt: skip
    once = len(queued) == DISTINCT == len(deliveries)
    print(f"queue holds {len(queued)} rows for {len(deliveries)} distinct deliveries "
          f"(expected {DISTINCT}: {'exactly once' if once else 'WRONG'})")  # fmt: skip
    p50, base = statistics.median(times), statistics.median(baseline)
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    print(f"answer p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; GET /healthz p50 "
          f"{base * 1000:.1f} ms; ratio {p50 / base:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
