"""Fetch the edge config with If-None-Match (and the edge's own bearer token) and keep the last good one on disk, so
a reboot collects offline.

Over https the server's certificate is always verified: against ``ca`` (``tagpipe edge --ca FILE``, e.g. the CA a
``tagpipe up --tls self-signed`` made) or the system's trusted authorities. There is no switch to skip it.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import ValidationError

from tagpipe import files
from tagpipe.contracts import EdgeConfig
from tagpipe.trust import tls_context

log = logging.getLogger(__name__)


class UntrustedServer(Exception):
    """The server's TLS certificate is not signed by an authority this edge trusts."""


class Unauthorized(Exception):
    """The server did not take this edge's credential (rotated or revoked)."""


class ConfigClient:
    def __init__(self, server: str, edge_id: str, *, cache: Path, timeout: float = 5.0,
                 token: Callable[[], str | None] = lambda: None, ca: Path | None = None) -> None:
        self.url = f"{server.rstrip('/')}/api/fleet/v1/edges/{edge_id}/config"
        self.cache = cache
        self.timeout = timeout
        self.token = token
        self.etag: str | None = None
        self.verify = tls_context(ca)
        self.ca = ca

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
        try:
            async with httpx.AsyncClient(timeout=self.timeout, verify=self.verify) as client:
                r = await client.get(self.url, headers=headers)
        except httpx.ConnectError as e:
            if isinstance(e.__context__ or e.__cause__, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(e):
                trusted = f"the CA in {self.ca}" if self.ca else "the system's authorities (pass --ca FILE)"
                raise UntrustedServer(f"the server's certificate is not trusted by {trusted}: {e}") from None
            raise
        if r.status_code == 304:
            return None
        if r.status_code in (401, 403):
            raise Unauthorized(f"the server refused this edge's credentials ({r.status_code})")
        r.raise_for_status()
        config = EdgeConfig.model_validate_json(r.content)
        self.etag = r.headers.get("ETag") or f'"{config.version}"'
        files.replace(self.cache, r.content)  # it holds the devices' secrets and keys: this user's only
        return config
