"""TLS for the web server (and the embedded NATS): the configured pair, or one made for this installation.

``TAGPIPE_TLS=self-signed`` (``tagpipe up --tls self-signed``) makes, in ``data_dir/tls``, a certificate authority of
this installation (``ca.pem``, ``ca.key``) and a server certificate it signs (``server.pem``, ``server.key``) for the
configured host names and addresses. Keys are written mode 0600 in a 0700 directory. An edge trusts the server with
``tagpipe edge --ca ca.pem``; the server certificate is issued again (by the same CA, so edges keep trusting it)
when a host is added or it expires within 30 days. ``TAGPIPE_TLS_CERT`` / ``TAGPIPE_TLS_KEY``, when set, win.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tagpipe import files
from tagpipe.settings import Settings

log = logging.getLogger(__name__)
TLS_DIR = "tls"
CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept for a leaf certificate
RENEW_DAYS = 30
WILDCARDS = {"0.0.0.0", "::", ""}


def server_names(settings: Settings) -> list[str]:
    """Host names and addresses a client may use to reach this server: the configured host (unless it is every
    address), loopback, this machine's names, and ``tls_hosts``."""
    names = ([settings.host] if settings.host not in WILDCARDS else []) + ["localhost", "127.0.0.1", "::1"]
    with contextlib.suppress(OSError):
        names += [socket.gethostname(), socket.getfqdn()]
    names += settings.tls_hosts
    seen: dict[str, None] = {}
    for name in names:
        if name:
            seen.setdefault(name.lower(), None)
    return list(seen)


def with_tls_files(settings: Settings) -> Settings:
    """``settings`` with ``tls_cert`` / ``tls_key`` filled in when ``tls`` is ``self-signed`` and none are set."""
    if settings.tls != "self-signed" or (settings.tls_cert and settings.tls_key):
        return settings
    cert, key = self_signed(settings.data_dir / TLS_DIR, server_names(settings))
    return settings.model_copy(update={"tls_cert": cert, "tls_key": key})


def self_signed(directory: Path, names: Iterable[str]) -> tuple[Path, Path]:
    """The server certificate and key in ``directory``, made (with the CA, once) or issued again when needed."""
    names = list(names)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca_cert, ca_key = _ca(directory)
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    if not _still_good(cert_path, key_path, names):
        key = _new_key()
        cert = _issue(ca_cert, ca_key, key, names)
        _write_key(key_path, key)
        files.replace(cert_path, _pem(cert), mode=0o644)
        log.info("issued a TLS server certificate for %s in %s", ", ".join(names), cert_path)
    return cert_path, key_path


def _ca(directory: Path) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        return (x509.load_pem_x509_certificate(cert_path.read_bytes()),
                serialization.load_pem_private_key(key_path.read_bytes(), password=None))
    key = _new_key()
    cert = _ca_certificate(key)
    _write_key(key_path, key)
    files.replace(cert_path, _pem(cert), mode=0o644)
    log.info("made the TLS certificate authority of this installation: %s (give it to edges: --ca)", cert_path)
    return cert, key


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tagpipe"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca_certificate(key: Any) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = dt.datetime.now(dt.UTC)
    name = _name(f"tagpipe CA {socket.gethostname()}"[:64])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def _issue(ca_cert: Any, ca_key: Any, key: Any, names: list[str]) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = dt.datetime.now(dt.UTC)
    alt: list[x509.GeneralName] = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (x509.CertificateBuilder().subject_name(_name(names[0][:64])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + dt.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _still_good(cert_path: Path, key_path: Path, names: list[str]) -> bool:
    """The server certificate exists, has its key, covers every name and does not expire within RENEW_DAYS."""
    from cryptography import x509

    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    covered = {n.lower() for n in alt.get_values_for_type(x509.DNSName)}
    covered |= {str(a) for a in alt.get_values_for_type(x509.IPAddress)}
    wanted = set()
    for n in names:
        try:
            wanted.add(str(ipaddress.ip_address(n)))
        except ValueError:
            wanted.add(n.lower())
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=RENEW_DAYS)
    return wanted <= covered and cert.not_valid_after_utc > soon


def _pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    files.replace(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


def transport_warning(settings: Settings) -> str | None:
    """What to say when the server listens beyond this machine without TLS (None when it does not)."""
    if settings.loopback or settings.https:
        return None
    return (f"Serving plain http on {settings.host}: passwords, session cookies and API tokens cross the network "
            "readable by anyone on it. Serve HTTPS with --tls self-signed (or TAGPIPE_TLS_CERT / TAGPIPE_TLS_KEY), "
            "or keep tagpipe on a private address behind a reverse proxy that terminates TLS.")
