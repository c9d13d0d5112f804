"""Provenance for a bundle: an in-toto Statement with a SLSA provenance v1 predicate, in a DSSE
envelope signed with ed25519. Verification checks the bundle's digest, the statement's subject
and the signature against trusted public keys; any mismatch is refused with the reason."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .. import __version__
from ..common.errors import UserError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://lockgate.dev/bundle/v1"


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signing_key(path: Path) -> Ed25519PrivateKey:
    """The key at `path`; created (0600, with `.pub` beside it) when there is none yet."""
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise UserError(f"{path} is not an ed25519 private key", where="--key")
        return loaded
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public_path(path).write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def public_path(private: Path) -> Path:
    return private.with_name(private.name.removesuffix(".pem") + ".pub.pem")


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        loaded = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read public key {path}: {exc}", hint="give a PEM file") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise UserError(f"{path} is not an ed25519 public key")
    return loaded


def statement(
    name: str, digest: str, source: dict[str, str], run_id: str, started: float
) -> dict[str, Any]:
    def stamp(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"source": source["path"]},
                "resolvedDependencies": [
                    {"uri": source["uri"], "digest": {"gitCommit": source["commit"]}}
                ],
            },
            "runDetails": {
                "builder": {"id": f"lockgate/{__version__}@{socket.gethostname()}"},
                "metadata": {
                    "invocationId": run_id,
                    "startedOn": stamp(started),
                    "finishedOn": stamp(time.time()),
                },
            },
        },
    }


def sign(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    signature = key.sign(_pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {"keyid": key_id(key.public_key()), "sig": base64.b64encode(signature).decode()}
        ],
    }


@dataclass(frozen=True)
class Verified:
    digest: str
    key_id: str
    statement: dict[str, Any]


class ProvenanceError(Exception):
    """Why a bundle is refused: tampered, unsigned, or signed by an untrusted key."""


def verify(bundle: Path, envelope_path: Path, trusted: list[Ed25519PublicKey]) -> Verified:
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    if bundle.name != f"{digest}.tar.gz":
        raise ProvenanceError(
            f"the bundle's content does not match its name: it hashes to {digest[:12]}, "
            "so it was changed after it was built"
        )
    if not envelope_path.exists():
        raise ProvenanceError("the bundle has no provenance statement (unsigned)")
    try:
        envelope = json.loads(envelope_path.read_text())
        payload = base64.b64decode(envelope["payload"])
        signatures = [(s["keyid"], base64.b64decode(s["sig"])) for s in envelope["signatures"]]
        document = json.loads(payload)
    except (ValueError, KeyError, TypeError) as exc:
        raise ProvenanceError(f"the provenance statement is unreadable ({exc})") from None
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise ProvenanceError(f"unexpected payload type {envelope.get('payloadType')!r}")
    signed_by = _signer(payload, signatures, trusted)
    if signed_by is None:
        raise ProvenanceError(
            "the provenance signature does not verify with any trusted key "
            "(tampered statement, or signed by a key this environment does not trust)"
        )
    subjects = [s.get("digest", {}).get("sha256") for s in document.get("subject", [])]
    if digest not in subjects:
        raise ProvenanceError(
            f"the signed statement is about {', '.join(str(s)[:12] for s in subjects)}, "
            f"not this bundle ({digest[:12]})"
        )
    if document.get("predicateType") != PREDICATE_TYPE:
        raise ProvenanceError(f"unexpected predicate type {document.get('predicateType')!r}")
    return Verified(digest, signed_by, document)


def _signer(
    payload: bytes, signatures: list[tuple[str, bytes]], trusted: list[Ed25519PublicKey]
) -> str | None:
    message = _pae(PAYLOAD_TYPE, payload)
    for public in trusted:
        for _, signature in signatures:
            try:
                public.verify(signature, message)
            except InvalidSignature:
                continue
            return key_id(public)
    return None
