"""A GitHub or a Gitea for the merge queue's tests, since neither runs here: its git is a real
bare repository on disk (what lockgate fetches from and pushes to), and its API answers the
requests the merge queue sends as the forge documents them. Every body is checked against the
forge's own published description (GitHub's @octokit/openapi, Gitea's swagger as gitea-js
carries it), and a request the description does not allow is kept as a problem the test
asserts there are none of. What the forge would do, it does on the bare repository: a PATCH of
a branch fast-forwards it or is refused with 422, as GitHub answers "Update is not a fast
forward"; Gitea's `manually-merged` marks the pull request merged."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from lockgate.common.ports import free_port

STATUSES = re.compile(r"/repos/(?P<full>[^/]+/[^/]+)/statuses/(?P<sha>[0-9a-f]{40})")
COMMENTS = re.compile(r"/repos/(?P<full>[^/]+/[^/]+)/issues/(?P<number>[0-9]+)/comments")
REFS = re.compile(r"/repos/(?P<full>[^/]+/[^/]+)/git/refs/heads/(?P<branch>[^?]+)")
PULL = re.compile(r"/repos/(?P<full>[^/]+/[^/]+)/pulls/(?P<number>[0-9]+)")
MERGE = re.compile(r"/repos/(?P<full>[^/]+/[^/]+)/pulls/(?P<number>[0-9]+)/merge")


@dataclass
class Sent:
    method: str
    path: str
    body: dict[str, Any]


@dataclass
class Pull:
    head_ref: str
    base_ref: str = "main"
    state: str = "open"
    merged_as: str | None = None


@dataclass
class ForgeDouble:
    kind: str  # github | gitea
    bare: Path  # the forge's git: a real bare repository
    full_name: str
    schemas: dict[str, dict[str, Any]]  # request body schemas: "statuses", "comments", ...
    pull_template: dict[str, Any]  # a pull request object as the forge describes one
    pulls: dict[int, Pull] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    api: str = ""

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.bare), *args], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip

    def open_pull(self, number: int, branch: str) -> None:
        """Pull request `number` from `branch`, with the ref the forge keeps for it."""
        self.git("update-ref", f"refs/pull/{number}/head", f"refs/heads/{branch}")
        self.pulls[number] = Pull(branch)

    def pull_json(self, number: int) -> dict[str, Any]:
        pull = self.pulls[number]
        head = self.git("rev-parse", f"refs/pull/{number}/head")
        template = self.pull_template
        return {**template, "number": number, "state": pull.state,
                "head": {**template["head"], "sha": head, "ref": pull.head_ref},
                "base": {**template["base"], "ref": pull.base_ref,
                         "sha": self.git("rev-parse", pull.base_ref)}}  # fmt: skip

    def check(self, schema: str, body: dict[str, Any]) -> None:
        try:
            jsonschema.validate(body, self.schemas[schema])
        except jsonschema.ValidationError as exc:
            self.problems.append(f"{schema}: {exc.message}")
        allowed = self.schemas[schema].get("properties", {})
        self.problems += [f"{schema}: unknown field {k!r}" for k in body if k not in allowed]

    def answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        root = "/api/v1" if self.kind == "gitea" else ""
        if not path.startswith(root):
            return 404, {"message": "Not Found"}
        path = path.removeprefix(root)
        self.sent.append(Sent(method, path, body))
        for pattern, verb, schema in ((STATUSES, "POST", "statuses"),
                                      (COMMENTS, "POST", "comments"),
                                      (MERGE, "POST", "merge"), (REFS, "PATCH", "refs"),
                                      (PULL, "GET", None)):  # fmt: skip
            found = pattern.fullmatch(path)
            if found is None or method != verb:
                continue
            if found["full"] != self.full_name:
                return 404, {"message": "Not Found"}
            if schema is not None:
                self.check(schema, body)
            if schema == "refs":
                return self.fast_forward(found["branch"], str(body.get("sha")))
            if schema == "merge":
                self.pulls[int(found["number"])].merged_as = body.get("MergeCommitID")
                return 200, {}
            if schema is None:
                number = int(found["number"])
                return (200, self.pull_json(number)) if number in self.pulls else (404, {})
            return 201, {}
        self.problems.append(f"{method} {path}: not an endpoint the merge queue should call")
        return 404, {"message": "Not Found"}

    def fast_forward(self, branch: str, sha: str) -> tuple[int, Any]:
        forward = subprocess.run(["git", "-C", str(self.bare), "merge-base", "--is-ancestor",
                                  f"refs/heads/{branch}", sha], capture_output=True)  # fmt: skip
        if forward.returncode != 0:
            return 422, {"message": "Update is not a fast forward"}
        self.git("update-ref", f"refs/heads/{branch}", sha)
        return 200, {"ref": f"refs/heads/{branch}", "object": {"sha": sha, "type": "commit"}}

    def start(self) -> http.server.ThreadingHTTPServer:
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                status, answer = double.answer(self.command, self.path, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        root = "/api/v1" if self.kind == "gitea" else ""
        self.api = f"http://127.0.0.1:{server.server_address[1]}{root}"
        return server

    def of(self, method: str, pattern: re.Pattern[str]) -> list[Sent]:
        return [s for s in self.sent if s.method == method and pattern.fullmatch(s.path)]


def typescript_schema(declarations: str, name: str, aliases: dict[str, str]) -> dict[str, Any]:
    """A JSON schema for interface `name` of a generated TypeScript client (gitea-js, made from
    Gitea's swagger): its fields, which are required (no `?`), their types and literal enums."""
    block = re.search(rf"interface {name} {{\n(.*?)\n}}", declarations, re.S)
    assert block is not None, f"{name} is not in the declarations"
    properties: dict[str, Any] = {}
    required = []
    for line in block.group(1).splitlines():
        field_ = re.fullmatch(r"\s*(\w+)(\??): (.+);", line)
        if field_ is None:
            continue
        key, optional, kind = field_.groups()
        kind = aliases.get(kind, kind)
        literals = re.findall(r"'([^']*)'", kind)
        if literals:
            properties[key] = {"enum": literals}
        else:
            types = {"string": "string", "boolean": "boolean", "number": "number"}
            properties[key] = {"type": types[kind]} if kind in types else {}
        if not optional:
            required.append(key)
    return {"type": "object", "properties": properties, "required": required}
