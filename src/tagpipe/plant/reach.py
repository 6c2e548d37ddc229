"""Which devices the server may talk to: the ``device_networks`` setting checked before any connection is tried or
stored (*Test connection*, OPC UA browse, a saved connection that an edge will poll).

Only addresses are checked, never resolved: with networks set, a host must be an IP address inside one of them (not
even ``localhost``, whose lookup could reach a resolver), so neither a connection nor a DNS query leaves them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlparse

from pydantic import BaseModel

from tagpipe.errors import InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def device_host(settings: BaseModel) -> tuple[str, str] | None:
    """(settings field, host) of a protocol's settings: ``host``, or the host of ``endpoint_url``; None without one."""
    host = getattr(settings, "host", None)
    if host:
        return "host", str(host)
    url = getattr(settings, "endpoint_url", None)
    if url:
        try:
            return "endpoint_url", urlparse(str(url)).hostname or ""
        except ValueError:
            return "endpoint_url", ""
    return None


def check_reach(settings: BaseModel, networks: Sequence[Network]) -> None:
    """Raise InvalidInput naming ``connection.host`` (or ``connection.endpoint_url``) when the device is outside
    ``networks``; no networks means any device."""
    if not networks:
        return
    found = device_host(settings)
    if found is None:
        return
    field, host = found
    allowed = ", ".join(str(n) for n in networks)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise InvalidInput(f"connection.{field}", f"an IP address in {allowed} (this server only reaches devices "
                                                  "there)", host) from None
    if not any(address.version == n.version and address in n for n in networks):
        raise InvalidInput(f"connection.{field}", f"an address in {allowed} (this server only reaches devices there)",
                           host)
