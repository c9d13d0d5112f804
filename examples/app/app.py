"""The example application lockgate deploys: a tiny HTTP service.

It listens on $HOST (default 127.0.0.1) and $PORT, and answers `/` with its version and
`/healthz` when ready. `behavior.json` beside it makes a version slow or erroring (used by the
tests, the README walk-through and the benchmarks): {"version": "2", "delay_ms": 100,
"error_rate": 0.05, "start_delay_ms": 0, "crash_after_ms": 0, "stop_delay_ms": 0,
"refuse_start": false}. While a file `unready` exists beside it, /healthz answers 503 (an
instance that lost its readiness).
"""

import json
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEHAVIOR = json.loads((HERE / "behavior.json").read_text())
# A version can take its time to stop (finishing requests, say): stop_delay_ms.
signal.signal(
    signal.SIGTERM,
    lambda *_: threading.Timer(BEHAVIOR.get("stop_delay_ms", 0) / 1000, os._exit, (0,)).start(),
)
if BEHAVIOR.get("refuse_start"):
    sys.exit("this version refuses to start (behavior.json: refuse_start)")
time.sleep(BEHAVIOR.get("start_delay_ms", 0) / 1000)  # a slow start, for rollout tests
if BEHAVIOR.get("crash_after_ms"):  # a version that dies a while after it started
    threading.Timer(BEHAVIOR["crash_after_ms"] / 1000, os._exit, args=(3,)).start()
INSTANCE = os.environ.get("LOCKGATE_INSTANCE", "?")
DIGEST = os.environ.get("LOCKGATE_DIGEST", "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def do_GET(self) -> None:
        if self.path == "/healthz":
            if (HERE / "unready").exists():
                return self.reply(503, "not ready\n")
            return self.reply(200, "ok\n")
        time.sleep(BEHAVIOR.get("delay_ms", 0) / 1000)
        if random.random() < BEHAVIOR.get("error_rate", 0):
            return self.reply(500, "injected error\n")
        version = BEHAVIOR.get("version", "1")
        return self.reply(200, f"version {version} instance {INSTANCE} digest {DIGEST[:12]}\n")

    def reply(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ADDRESS = (os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"]))
server = ThreadingHTTPServer(ADDRESS, Handler)
server.daemon_threads = True
server.serve_forever()
