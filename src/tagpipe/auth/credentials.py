"""Passwords (argon2id) and the random secrets behind sessions, API tokens and login links (stored as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tagpipe.errors import InvalidInput

MIN_PASSWORD = 8
TOKEN_PREFIX = "tp_"
_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile: t=3, 64 MiB, p=4
# Verified when the user name is unknown, so that an unknown user takes as long to refuse as a wrong password.
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


def check_password_policy(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(field, f"a password of at least {MIN_PASSWORD} characters")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored argon2 hash; with no hash, spends the same time and says no."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def new_secret(prefix: str = "") -> str:
    """A random secret of 256 bits, printable (urlsafe base64)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a session id, API token or login link: its SHA-256 (they are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())
