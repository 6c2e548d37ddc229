"""NATS nkeys (Ed25519 keys written as base32 with a type prefix and a CRC-16) and the JWTs nats-server reads: the
auth callout's response and the user claims it carries (pure, on ``cryptography``'s Ed25519).

The encodings follow nats-io/nkeys (``Encode``, ``EncodeSeed``, CRC-16/XMODEM, little endian) and nats-io/jwt v2
(header ``{"typ":"JWT","alg":"ed25519-nkey"}``, base64url without padding, the signature over ``header.payload``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SEED, ACCOUNT, SERVER, USER = 18 << 3, 0, 13 << 3, 20 << 3
PREFIXES = {ACCOUNT: "A", SERVER: "N", USER: "U"}
HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw + _crc16(raw).to_bytes(2, "little")).decode().rstrip("=")


def _unb32(text: str) -> bytes:
    raw = base64.b32decode(text + "=" * (-len(text) % 8))
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    if _crc16(body) != crc:
        raise ValueError("not an nkey: the checksum does not match")
    return body


def encode_public(prefix: int, key: bytes) -> str:
    return _b32(bytes([prefix]) + key)


def decode_public(text: str, prefix: int) -> bytes:
    raw = _unb32(text)
    if raw[0] != prefix or len(raw) != 33:
        raise ValueError(f"not a public nkey of type {PREFIXES.get(prefix, prefix)}")
    return raw[1:]


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An nkey pair of one type (account, user, server) from its 32-byte Ed25519 seed."""

    prefix: int
    raw_seed: bytes

    @classmethod
    def create(cls, prefix: int = ACCOUNT) -> KeyPair:
        return cls(prefix, secrets.token_bytes(32))

    @classmethod
    def from_seed(cls, seed: str) -> KeyPair:
        raw = _unb32(seed)
        if len(raw) != 34 or raw[0] & 0xF8 != SEED:
            raise ValueError("not an nkey seed")
        return cls(((raw[0] & 7) << 5) | (raw[1] >> 3), raw[2:])

    @property
    def seed(self) -> str:
        return _b32(bytes([SEED | self.prefix >> 5, (self.prefix & 31) << 3]) + self.raw_seed)

    @property
    def public_key(self) -> str:
        key = Ed25519PrivateKey.from_private_bytes(self.raw_seed).public_key()
        return encode_public(self.prefix, key.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, data: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.raw_seed).sign(data)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(issuer: KeyPair, claims: dict[str, Any]) -> str:
    """Sign ``claims`` (``iss``, ``iat`` and ``jti`` are filled in) as a v2 NATS JWT."""
    body = {**claims, "iss": issuer.public_key, "iat": int(time.time())}
    body["jti"] = base64.b32encode(
        hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()).decode().rstrip("=")
    head = _b64(json.dumps(HEADER, separators=(",", ":")).encode())
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    signed = f"{head}.{payload}"
    return f"{signed}.{_b64(issuer.sign(signed.encode()))}"


def decode_jwt(token: str, issuer_prefix: int | None = None) -> dict[str, Any]:
    """The claims of a NATS JWT, its signature checked against its own issuer (of type ``issuer_prefix``)."""
    try:
        head, payload, signature = token.split(".")
        claims: dict[str, Any] = json.loads(_unb64(payload))
        issuer = str(claims["iss"])
        key = decode_public(issuer, issuer_prefix if issuer_prefix is not None else _unb32(issuer)[0])
        Ed25519PublicKey.from_public_bytes(key).verify(_unb64(signature), f"{head}.{payload}".encode())
    except (ValueError, KeyError, TypeError, InvalidSignature) as e:
        raise ValueError(f"not a valid NATS JWT: {e!r}") from None
    return claims
