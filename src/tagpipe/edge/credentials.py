"""The edge's own credential: asked for with a provisioning key, collected once approved, kept in the data directory
(mode 0600), and collected again after a rotation.

One secret serves as the HTTP bearer token (config sync) and the NATS and MQTT password (user: the edge id).
``credentials.json`` holds it; ``enrollment.json`` holds the secret to collect it with while the request is pending.
"""

from __future__ import annotations

import json
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tagpipe import files

log = logging.getLogger(__name__)
CREDENTIALS, ENROLLMENT = "credentials.json", "enrollment.json"


class NotAdmitted(Exception):
    """The server refused this edge (its request was refused, or its credential revoked): an admin must act."""


@dataclass(frozen=True, slots=True)
class Credentials:
    edge_id: str
    token: str


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON readable by this user only, replacing the file at once."""
    files.replace(path, json.dumps(data).encode())


def load(data_dir: Path, edge_id: str) -> Credentials | None:
    try:
        data = json.loads((data_dir / CREDENTIALS).read_text())
    except (OSError, ValueError):
        return None
    if data.get("edge_id") != edge_id or not data.get("token"):
        return None
    return Credentials(edge_id, str(data["token"]))


def save(data_dir: Path, creds: Credentials) -> None:
    write_private(data_dir / CREDENTIALS, {"edge_id": creds.edge_id, "token": creds.token})
    (data_dir / ENROLLMENT).unlink(missing_ok=True)


class Enroller:
    """Talks to the server's admission routes for one edge."""

    def __init__(self, server: str, edge_id: str, data_dir: Path, *, verify: ssl.SSLContext | bool = True,
                 timeout: float = 5.0) -> None:
        self.base = f"{server.rstrip('/')}/api/fleet/v1/edges/{edge_id}"
        self.edge_id, self.data_dir, self.verify, self.timeout = edge_id, data_dir, verify, timeout

    async def _post(self, path: str, **kw: Any) -> httpx.Response:
        async with httpx.AsyncClient(timeout=self.timeout, verify=self.verify) as client:
            return await client.post(f"{self.base}/{path}", **kw)

    async def enroll(self, key: str, name: str = "") -> Credentials | None:
        """Ask with a provisioning key: the credential at once (auto-approve), or None (pending; the secret to
        collect it with is kept in ``enrollment.json``)."""
        r = await self._post("enroll", json={"provisioning_key": key, **({"name": name} if name else {})})
        if r.status_code in (401, 403, 409):
            raise NotAdmitted(f"the server refused the provisioning key: {_detail(r)}")
        r.raise_for_status()
        body = r.json()
        if body.get("token"):
            creds = Credentials(self.edge_id, body["token"])
            save(self.data_dir, creds)
            return creds
        write_private(self.data_dir / ENROLLMENT, {"edge_id": self.edge_id, "enrollment": body["enrollment"]})
        return None

    def pending(self) -> str | None:
        try:
            data = json.loads((self.data_dir / ENROLLMENT).read_text())
        except (OSError, ValueError):
            return None
        return str(data["enrollment"]) if data.get("edge_id") == self.edge_id and data.get("enrollment") else None

    async def collect(self, secret: str) -> Credentials | None:
        """Collect the credential with the enrollment secret (or the old credential after a rotation); None while
        the request is pending."""
        r = await self._post("credentials", headers={"Authorization": f"Bearer {secret}"})
        if r.status_code == 202:
            return None
        if r.status_code in (401, 403):
            raise NotAdmitted(f"the server refused to hand out credentials: {_detail(r)}")
        r.raise_for_status()
        creds = Credentials(self.edge_id, r.json()["token"])
        save(self.data_dir, creds)
        return creds


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail") or r.text)
    except ValueError:
        return r.text[:200]
