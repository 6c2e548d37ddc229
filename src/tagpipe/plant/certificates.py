"""tagpipe's store of certificates and private keys: uploaded (sealed at rest) or files of one configured directory.

Connections name an entry in a settings field marked ``json_schema_extra={"material": kind}`` (OPC UA's
``certificate``, ``private_key``, ``server_certificate``); nothing else is ever read, so no setting can make the
server open a file of its choosing. Every entry is kept and delivered as PEM: the edge that polls a connection
receives what it names in its config (``devices[].files``), a server-side test or browse gets it in memory.

Names are plain file names (``drivers.base.MATERIAL_NAME``). An uploaded entry and a file of
``TAGPIPE_CERTIFICATE_DIR`` cannot share a name (409 on upload; a file added later under an uploaded name is hidden).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe import drivers
from tagpipe.auth.secrets import box_of
from tagpipe.db import fits
from tagpipe.drivers.base import MATERIAL_NAME, material_fields
from tagpipe.errors import Conflict, InvalidInput, NotFound
from tagpipe.plant.models import Certificate, Connection
from tagpipe.settings import Settings

log = logging.getLogger(__name__)
KINDS = ("certificate", "private_key")
MAX_BYTES = 64 * 1024
DIRECTORY_KEY = "certificate_dir"  # in the session factory's info, set by the services


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """What a certificate or key file holds, normalised to PEM."""

    kind: str
    pem: bytes
    subject: str = ""
    not_after: dt.datetime | None = None
    fingerprint: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One entry of the store as it is listed (never its content)."""

    id: int | None
    name: str
    kind: str
    subject: str
    not_after: dt.datetime | None
    fingerprint: str
    source: str  # upload | directory
    used_by: list[int]


def parse(data: bytes, password: str | None = None) -> Parsed:
    """A PEM or DER certificate, or a private key (PEM or DER, decrypted with ``password`` if it is encrypted);
    ValueError saying what was expected otherwise (pure)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    pem = b"-----BEGIN" in data
    try:
        cert = x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
    except ValueError:
        cert = None
    if cert is not None:
        der = cert.public_bytes(serialization.Encoding.DER)
        return Parsed(kind="certificate", pem=cert.public_bytes(serialization.Encoding.PEM),
                      subject=cert.subject.rfc4514_string()[:500],
                      not_after=cert.not_valid_after_utc.replace(tzinfo=None),
                      fingerprint=hashlib.sha256(der).hexdigest())
    secret = password.encode() if password else None
    try:
        key = (serialization.load_pem_private_key(data, secret) if pem
               else serialization.load_der_private_key(data, secret))
    except TypeError as e:  # encrypted without a password, or a password for a key that has none
        raise ValueError(f"a private key and its password ({e})") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("a certificate (PEM or DER) or a private key (PEM or DER, PKCS#1 or PKCS#8)") from None
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return Parsed(kind="private_key", pem=key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()),
                  fingerprint=hashlib.sha256(public).hexdigest())


def directory_of(session: Session) -> Path | None:
    """The configured directory of certificate files (None: uploads only)."""
    info = session.info
    return info[DIRECTORY_KEY] if DIRECTORY_KEY in info else Settings().certificate_dir


def _directory(session: Session) -> dict[str, Parsed]:
    """The files of the configured directory that are certificates or keys, by file name; nothing outside it."""
    root = directory_of(session)
    if root is None:
        return {}
    found: dict[str, Parsed] = {}
    try:
        base = root.resolve(strict=True)
        paths = sorted(base.iterdir())
    except OSError as e:
        log.warning("certificate directory %s cannot be read: %s", root, e)
        return {}
    for path in paths:
        if not MATERIAL_NAME.fullmatch(path.name):
            continue
        try:
            real = path.resolve(strict=True)
            if real.parent != base or not real.is_file() or real.stat().st_size > MAX_BYTES:
                continue  # a link out of the directory, a folder, or too big for a certificate
            found[path.name] = parse(real.read_bytes())
        except (OSError, ValueError):
            continue
    return found


def used_by(session: Session) -> dict[str, list[int]]:
    """Each stored name, with the connections that name it."""
    out: dict[str, list[int]] = {}
    for conn in session.scalars(select(Connection).order_by(Connection.id)):
        for field in _fields(conn.protocol):
            name = (conn.settings or {}).get(field)
            if isinstance(name, str):
                out.setdefault(name, []).append(conn.id)
    return out


def _fields(protocol: str) -> dict[str, str]:
    name = drivers.ALIASES.get(protocol, protocol)
    return material_fields(drivers.DRIVERS[name].settings_model) if name in drivers.DRIVERS else {}


def entries(session: Session) -> list[Entry]:
    """Every certificate and key a connection may name: uploads first, then the directory's files."""
    users = used_by(session)
    uploaded = list(session.scalars(select(Certificate).order_by(Certificate.name)))
    out = [Entry(id=c.id, name=c.name, kind=c.kind, subject=c.subject, not_after=c.not_after,
                 fingerprint=c.fingerprint, source="upload", used_by=users.get(c.name, [])) for c in uploaded]
    taken = {c.name for c in uploaded}
    out += [Entry(id=None, name=name, kind=p.kind, subject=p.subject, not_after=p.not_after, fingerprint=p.fingerprint,
                  source="directory", used_by=users.get(name, []))
            for name, p in _directory(session).items() if name not in taken]
    return out


def upload(session: Session, name: str, data: bytes, password: str | None = None) -> Certificate:
    """Store a certificate or key under ``name`` (sealed); InvalidInput naming the field, Conflict for a taken name."""
    if not MATERIAL_NAME.fullmatch(name):
        raise InvalidInput("name", "letters, digits, '.', '_' or '-', at most 64, not starting with '.', '_' or '-'",
                           name)
    if len(data) > MAX_BYTES:
        raise InvalidInput("pem", f"at most {MAX_BYTES} bytes", f"{len(data)} bytes")
    try:
        parsed = parse(data, password)
    except ValueError as e:
        raise InvalidInput("pem", str(e)) from None
    if session.scalar(select(Certificate.id).where(Certificate.name == name)) or name in _directory(session):
        raise Conflict(f"a certificate or key named {name!r} already exists")
    cert = Certificate(name=name, kind=parsed.kind, content=box_of(session).seal(parsed.pem.decode()),
                       subject=parsed.subject, not_after=parsed.not_after, fingerprint=parsed.fingerprint)
    session.add(cert)
    session.commit()
    return cert


def delete(session: Session, id_: int) -> None:
    """Delete an uploaded entry no connection names (Conflict naming them otherwise)."""
    cert = session.get(Certificate, id_) if fits(id_) else None
    if cert is None:
        raise NotFound(f"certificate {id_} does not exist")
    users = used_by(session).get(cert.name)
    if users:
        raise Conflict(f"{cert.name!r} is named by connection{'s' if len(users) > 1 else ''} "
                       f"{', '.join(map(str, users))}; change them first")
    session.delete(cert)
    session.commit()


def material(session: Session, protocol: str, settings: Mapping[str, Any], *, strict: bool = True) -> dict[str, bytes]:
    """The PEM of every certificate and key ``settings`` name, by name. ``strict``: InvalidInput naming the field
    (``connection.<field>``) for a name not in the store or of the wrong kind (a certificate where a key belongs);
    else such names are left out (a stored connection whose file left the directory: its edge reports it)."""
    fields = _fields(protocol)
    wanted = {f: settings.get(f) for f in fields if isinstance(settings.get(f), str)}
    if not wanted:
        return {}
    uploaded = {c.name: c for c in session.scalars(select(Certificate).where(Certificate.name.in_(wanted.values())))}
    directory = _directory(session) if set(wanted.values()) - set(uploaded) else {}
    box, out = box_of(session), {}
    for field, name in wanted.items():
        kind = fields[field]
        if name in uploaded and uploaded[name].kind == kind:
            out[name] = box.unseal(uploaded[name].content).encode()
        elif name not in uploaded and name in directory and directory[name].kind == kind:
            out[name] = directory[name].pem
        elif strict:
            what = "certificate" if kind == "certificate" else "private key"
            where = " or a file in the certificate directory" if directory_of(session) else ""
            raise InvalidInput(f"connection.{field}", f"the name of a {what} uploaded under Configuration → "
                                                      f"Certificates{where}", name)
        else:
            log.warning("%s %r of a %s connection is not in the store", field, name, protocol)
    return out
