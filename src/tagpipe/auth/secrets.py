"""Secrets at rest: settings fields marked secret are stored encrypted, never answered, and decrypted only for the
edge that needs them (and a server-side connection test).

Key: ``TAGPIPE_SECRET_KEY`` (urlsafe base64 of 32 bytes), else ``secret.key`` in the data directory, created
with mode 0600 the first time a secret is stored. Value: ``enc:v1:`` + a Fernet token (AES-128-CBC with an
HMAC-SHA256, from ``cryptography``), so a value says it is sealed and a later scheme can be told apart.

A settings model marks a field secret with ``json_schema_extra={"secret": True}``. The API answers such a field as
``MASK``; a PUT that omits it or sends ``MASK`` keeps the stored secret, an empty value clears it.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from tagpipe.settings import Settings

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

log = logging.getLogger(__name__)
SEALED = "enc:v1:"
MASK = "********"
KEY_FILE = "secret.key"


class SecretBox:
    """Seals and unseals values with one key, read or created when first needed."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._fernet: Fernet | None = None

    def _key(self) -> Fernet:
        from cryptography.fernet import Fernet  # only a process that stores or reads a secret loads it

        if self._fernet is None:
            key = self._settings.secret_key or load_or_create_key(self._settings.data_dir / KEY_FILE)
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        return self._fernet

    def seal(self, value: str) -> str:
        return SEALED + self._key().encrypt(value.encode()).decode()

    def unseal(self, value: str) -> str:
        from cryptography.fernet import InvalidToken

        if not is_sealed(value):
            return value  # stored before secrets were sealed; sealed again on the next save
        try:
            return self._key().decrypt(value[len(SEALED):].encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with this key (TAGPIPE_SECRET_KEY or "
                             f"{KEY_FILE} changed?)") from None


def load_or_create_key(path: Path) -> str:
    """The key in ``path``, created (mode 0600, never overwritten) when there is none."""
    from cryptography.fernet import Fernet

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s can be read by other users (mode %o); chmod 600 it", path, mode & 0o777)
        return path.read_text().strip()
    key = Fernet.generate_key().decode()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED)


def secret_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of a settings model marked ``json_schema_extra={"secret": True}``."""
    return frozenset(name for name, f in model.model_fields.items()
                     if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("secret"))


def seal_settings(box: SecretBox, fields: Iterable[str], given: Mapping[str, Any], validated: Mapping[str, Any],
                  previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """What to store: ``validated`` (made from ``with_kept_secrets``) with each secret field sealed; a secret that
    ``given`` omits or masks keeps its stored ciphertext, and an empty one is cleared."""
    out = dict(validated)
    for name in fields:
        value, sent, kept = validated.get(name), given.get(name, MASK), (previous or {}).get(name)
        if value in (None, "") or (name in given and sent in (None, "")):
            out[name] = None
        elif sent == MASK and is_sealed(kept):
            out[name] = kept
        else:
            out[name] = box.seal(str(value))
    return out


def unsealed(box: SecretBox, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with sealed values decrypted: for the edge's config and a server-side connection test."""
    return {k: box.unseal(v) if is_sealed(v) else v for k, v in settings.items()}


def with_kept_secrets(box: SecretBox, fields: Iterable[str], given: Mapping[str, Any],
                      previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """``given`` with each secret field it omits or masks taken (decrypted) from ``previous``: what an edited
    connection will be, to validate or test it."""
    out = {k: v for k, v in given.items() if not (k in fields and v == MASK)}
    for name in fields:
        if name not in out and (previous or {}).get(name) not in (None, ""):
            out[name] = box.unseal((previous or {})[name])
    return out


def masked(settings: Mapping[str, Any], fields: Iterable[str] = ()) -> dict[str, Any]:
    """``settings`` as the API and the UI show them: sealed values and secret fields as MASK."""
    secret = set(fields)
    return {k: MASK if (is_sealed(v) or (k in secret and v not in (None, ""))) else v for k, v in settings.items()}


@functools.cache
def _environment_box() -> SecretBox:
    return SecretBox(Settings())


def box_of(session: Session) -> SecretBox:
    """The box of the process that opened ``session`` (its services put it in the session factory's info), else
    one for the configured settings (a command-line tool)."""
    box = session.info.get("secret_box")
    return box if isinstance(box, SecretBox) else _environment_box()
