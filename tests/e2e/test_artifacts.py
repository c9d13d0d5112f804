"""Bundles: reproducible digests, signed provenance, and clear refusals of anything tampered."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from ..conftest import lockgate, make_repo
from .fleet import app_version, build

pytestmark = pytest.mark.integration


def test_the_same_input_gives_the_same_bytes_and_digest(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README": "x\n"})
    first = build(repo, app_version(repo, "v1"))
    copy = tmp_path / "elsewhere" / "v1"
    shutil.copytree(repo / "v1", copy)
    (copy / "app.py").touch()  # a newer mtime changes nothing
    assert build(repo, copy) == first
    (copy / "app.py").write_text((copy / "app.py").read_text() + "\n# changed\n")
    assert build(repo, copy) != first
    stored = repo / ".lockgate" / "bundles" / f"{first}.tar.gz"
    statement = json.loads(
        base64.b64decode(
            json.loads(stored.with_name(f"{first}.provenance.json").read_text())["payload"]
        )
    )
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"][0]["digest"]["sha256"] == first
    commit = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"]
    assert len(commit["gitCommit"].split("-")[0]) == 40


def _verify(repo: Path, digest: str, *keys: str) -> tuple[int, str]:
    done = lockgate("artifact", "verify", digest[:12], *keys, cwd=repo)
    return done.returncode, done.stdout + done.stderr


def test_tampering_and_untrusted_keys_are_refused_with_the_reason(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README": "x\n"})
    digest = build(repo, app_version(repo, "v1"))
    code, text = _verify(repo, digest)
    assert code == 0 and "verified" in text
    bundles = repo / ".lockgate" / "bundles"
    envelope_path = bundles / f"{digest}.provenance.json"
    original = envelope_path.read_text()

    other = make_repo(tmp_path / "other", {"README": "y\n"})
    build(other, app_version(other, "v9"))
    stranger = other / ".lockgate" / "keys" / "provenance-ed25519.pub.pem"
    code, text = _verify(repo, digest, "--trusted-key", str(stranger))
    assert code == 1 and "does not verify with any trusted key" in text

    envelope = json.loads(original)
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["predicate"]["runDetails"]["metadata"]["invocationId"] = "forged"
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    envelope_path.write_text(json.dumps(envelope))
    code, text = _verify(repo, digest)
    assert code == 1 and "tampered statement" in text

    envelope_path.unlink()
    code, text = _verify(repo, digest)
    assert code == 1 and "unsigned" in text
    envelope_path.write_text(original)

    bundle = bundles / f"{digest}.tar.gz"
    bundle.write_bytes(bundle.read_bytes() + b"\0")
    code, text = _verify(repo, digest)
    assert code == 1 and "changed after it was built" in text
    assert "Traceback" not in text


def test_a_bad_app_manifest_is_a_clear_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README": "x\n"})
    app = app_version(repo, "v1")
    (app / "lockgate-app.yaml").write_text("name: hello\nstart: python3 app.py\nreadyness: /\n")
    done = lockgate("artifact", "build", str(app), cwd=repo)
    assert done.returncode == 2
    assert "lockgate-app.yaml:3:1" in done.stderr and "unknown key 'readyness'" in done.stderr
    assert "readiness" in done.stderr  # the allowed keys are listed
