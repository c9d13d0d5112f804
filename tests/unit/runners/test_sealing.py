"""A job's secrets are kept sealed with the home's key, made private on first use."""

from __future__ import annotations

from pathlib import Path

from lockgate.runners.sealing import key_file, seal, unseal


def test_secrets_are_sealed_with_a_private_key_and_open_only_with_it(tmp_path: Path) -> None:
    key = key_file(tmp_path)
    assert key.stat().st_mode & 0o777 == 0o600 and key_file(tmp_path) == key
    sealed = seal(key, {"TOKEN": "s3cr3t"})
    assert b"s3cr3t" not in sealed
    assert unseal(key, sealed) == {"TOKEN": "s3cr3t"}
    other = tmp_path / "other"
    other.mkdir()
    assert unseal(key_file(other), sealed) == {}  # another home's key opens nothing
