"""Reading the package registries (npm, PyPI) over HTTPS: JSON metadata and package files."""

from __future__ import annotations

from typing import Any

import httpx


class DownloadFailed(Exception):
    """The registry could not be read; the message names the address and why."""


def fetch(url: str, timeout: float = 300, headers: dict[str, str] | None = None) -> bytes:
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True, headers=headers)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise DownloadFailed(f"cannot download {url}: {exc}") from None
    return response.content


def fetch_json(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        data = httpx.get(url, timeout=60, follow_redirects=True, headers=headers)
        data.raise_for_status()
        parsed = data.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise DownloadFailed(f"cannot read {url}: {exc}") from None
    if not isinstance(parsed, dict):
        raise DownloadFailed(f"{url} did not answer with package metadata")
    return parsed
