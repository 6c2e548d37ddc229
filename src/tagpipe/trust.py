"""Whom a client trusts: the TLS context of every connection tagpipe makes to its own server (HTTP, NATS, MQTT),
from the edge and from central processes alike."""

from __future__ import annotations

import ssl
from pathlib import Path


def tls_context(ca: Path | str | None) -> ssl.SSLContext:
    """A client TLS context that verifies the server: against ``ca`` when given (which may be the server's own
    self-signed certificate, trusted as such), else the system's trusted authorities. Verification is never off."""
    if ca is None:
        return ssl.create_default_context()
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
    except (OSError, ssl.SSLError) as e:
        raise ValueError(f"{ca}: not a readable PEM certificate file ({e})") from None
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a leaf certificate given as the CA is trusted as such
    return ctx
