"""OPC UA client security: certificates, the Basic256Sha256 channel and the user identity for one connection."""

from __future__ import annotations

import functools
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from asyncua import Client
from asyncua.crypto import cert_gen, security_policies, uacrypto
from asyncua.ua import MessageSecurityMode
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from tagpipe.errors import DeviceMisconfigured

if TYPE_CHECKING:
    from tagpipe.drivers.opcua import OpcUaSettings

APPLICATION_URI = "urn:tagpipe:edge"


async def apply_security(client: Client, s: OpcUaSettings, material: Mapping[str, bytes]) -> None:
    """Configure ``client`` (before connect) for the settings' policy, mode and identity; the certificates and keys
    the settings name are taken from ``material`` (never from a path the settings give)."""
    client.application_uri = APPLICATION_URI
    client.name = client.description = "tagpipe edge"
    cert = key = None
    if s.certificate and s.private_key:
        cert = load_certificate(_get(material, s.certificate, "certificate"), s.certificate)
        key = load_private_key(_get(material, s.private_key, "private key"), s.private_key)
        client.application_uri = application_uri(cert) or APPLICATION_URI
    if s.security_policy == "Basic256Sha256":
        if cert is None or key is None:
            cert, key = ephemeral_certificate(client.application_uri)
        server_cert = (load_certificate(_get(material, s.server_certificate, "certificate"), s.server_certificate)
                       if s.server_certificate else None)
        await client.set_security(
            security_policies.SecurityPolicyBasic256Sha256,
            uacrypto.CertProperties(cert.public_bytes(serialization.Encoding.DER)),
            uacrypto.CertProperties(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())),
            server_certificate=(uacrypto.CertProperties(server_cert.public_bytes(serialization.Encoding.DER))
                                if server_cert else None),
            mode=getattr(MessageSecurityMode, s.security_mode),
        )
    if s.auth == "username":
        client.set_user(s.username or "")
        client.set_password(s.password or "")
    elif s.auth == "certificate":
        client.user_certificate, client.user_private_key = cert, key


def load_certificate(data: bytes, name: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise DeviceMisconfigured(f"certificate {name!r}: not a PEM or DER certificate ({e})") from None


def load_private_key(data: bytes, name: str) -> Any:
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise DeviceMisconfigured(f"private key {name!r}: not an unencrypted PEM or DER key ({e})") from None


def application_uri(cert: x509.Certificate) -> str | None:
    """The application uri a certificate was issued for (servers check that the client claims the same)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


@functools.lru_cache(maxsize=4)
def ephemeral_certificate(uri: str) -> tuple[x509.Certificate, Any]:
    """A self-signed client certificate made once per process, for servers that accept any client."""
    key = cert_gen.generate_private_key()
    names = [x509.UniformResourceIdentifier(uri), x509.DNSName(socket.gethostname())]
    cert = cert_gen.generate_self_signed_app_certificate(key, "tagpipe edge", {}, names,
                                                         [ExtendedKeyUsageOID.CLIENT_AUTH])
    return cert, key


def _get(material: Mapping[str, bytes], name: str, what: str) -> bytes:
    try:
        return material[name]
    except (KeyError, OSError):
        raise DeviceMisconfigured(f"{what} {name!r} was not delivered with this connection's configuration "
                                  "(is it in tagpipe's store?)") from None
