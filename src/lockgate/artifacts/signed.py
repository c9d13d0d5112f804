"""Build-and-sign and find-and-verify: what `lockgate artifact` and deployments call."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from ..common.gitinfo import repo_info
from . import bundles, provenance
from .bundles import Bundle


def store_dir(state_dir: Path) -> Path:
    return state_dir / "bundles"


def default_key(state_dir: Path) -> Path:
    return state_dir / "keys" / "provenance-ed25519.pem"


def build_signed(directory: Path, state_dir: Path, key_path: Path | None = None) -> Bundle:
    started = time.time()
    bundle = bundles.build(directory.resolve(), store_dir(state_dir))
    repo = repo_info(directory.resolve())
    source = {
        "path": directory.resolve().relative_to(repo.root.resolve()).as_posix()
        if repo.is_git
        else str(directory.resolve()),
        "uri": f"git+{repo.repository}@{repo.branch}",
        "commit": repo.sha + ("-dirty" if repo.dirty else ""),
    }
    # Inside `lockgate run` the run id says which pipeline run built it.
    run_id = os.environ.get("GITHUB_RUN_ID") or f"manual-{uuid.uuid4().hex[:12]}"
    document = provenance.statement(bundle.manifest.name, bundle.digest, source, run_id, started)
    key = provenance.signing_key(key_path or default_key(state_dir))
    envelope = provenance.sign(document, key)
    bundle.provenance_path.write_text(json.dumps(envelope, indent=2) + "\n")
    return bundle


def verify_stored(reference: str, state_dir: Path, trusted_keys: list[Path]) -> provenance.Verified:
    """Raises UserError for an unknown digest, ProvenanceError for a refused bundle."""
    path = bundles.find(store_dir(state_dir), reference)
    keys = trusted_keys or [provenance.public_path(default_key(state_dir))]
    trusted = [provenance.load_public(k) for k in keys if k.exists()]
    if not trusted:
        raise provenance.ProvenanceError(
            f"no trusted key to check against ({', '.join(map(str, keys))} does not exist)"
        )
    digest = path.name.removesuffix(".tar.gz")
    return provenance.verify(path, path.with_name(f"{digest}.provenance.json"), trusted)
