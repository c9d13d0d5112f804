"""The stored bundle of a digest and the app manifest inside it, read once per process."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from ..artifacts import bundles, signed
from ..artifacts.manifest import AppManifest, load_manifest
from ..common.errors import UserError


class Releases:
    def __init__(self, state_dir: Path, directory: Path) -> None:
        self.state_dir = state_dir
        self.directory = directory  # the environment's: manifests are kept under it
        self.apps: dict[str, tuple[Path, AppManifest]] = {}

    def bundle(self, digest: str) -> Path:
        return self.app_for(digest)[0]

    def app(self, digest: str) -> AppManifest:
        return self.app_for(digest)[1]

    def app_for(self, digest: str) -> tuple[Path, AppManifest]:
        if digest not in self.apps:
            self.apps[digest] = self._load(digest)
        return self.apps[digest]

    def _load(self, digest: str) -> tuple[Path, AppManifest]:
        bundle = bundles.find(signed.store_dir(self.state_dir), digest)
        manifests = self.directory / "manifests" / bundle.name.removesuffix(".tar.gz")
        if not (manifests / "lockgate-app.yaml").exists():
            manifests.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(bundle.read_bytes()), mode="r:gz") as tar:
                member = tar.extractfile("lockgate-app.yaml")
                if member is None:
                    raise UserError(f"bundle {digest[:12]} has no lockgate-app.yaml")
                (manifests / "lockgate-app.yaml").write_bytes(member.read())
        return bundle, load_manifest(manifests, f"{digest[:12]}:lockgate-app.yaml")
