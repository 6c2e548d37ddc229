"""Fetch the edge config with If-None-Match (and the edge's own bearer token) and keep the last good one on disk, so
a reboot collects offline."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import ValidationError

from tagpipe.contracts import EdgeConfig

log = logging.getLogger(__name__)


class Unauthorized(Exception):
    """The server did not take this edge's credential (rotated or revoked)."""


class ConfigClient:
    def __init__(self, server: str, edge_id: str, *, cache: Path, timeout: float = 5.0,
                 token: Callable[[], str | None] = lambda: None, verify: ssl.SSLContext | bool = True) -> None:
        self.url = f"{server.rstrip('/')}/api/fleet/v1/edges/{edge_id}/config"
        self.cache = cache
        self.timeout = timeout
        self.token, self.verify = token, verify
        self.etag: str | None = None

    def cached(self) -> EdgeConfig | None:
        try:
            config = EdgeConfig.model_validate_json(self.cache.read_bytes())
        except (OSError, ValidationError):
            return None
        self.etag = f'"{config.version}"'
        return config

    async def fetch(self) -> EdgeConfig | None:
        """The new config, or None when the server answered 304 (unchanged)."""
        headers = {"If-None-Match": self.etag} if self.etag else {}
        token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient(timeout=self.timeout, verify=self.verify) as client:
            r = await client.get(self.url, headers=headers)
        if r.status_code == 304:
            return None
        if r.status_code in (401, 403):
            raise Unauthorized(f"the server refused this edge's credentials ({r.status_code})")
        r.raise_for_status()
        config = EdgeConfig.model_validate_json(r.content)
        self.etag = r.headers.get("ETag") or f'"{config.version}"'
        tmp = self.cache.with_suffix(".tmp")
        tmp.write_bytes(r.content)
        tmp.replace(self.cache)
        return config
