"""Provisioning keys: what an edge is started with to ask for credentials of its own. Each has an expiry and a
number of uses, may approve the edges that use it at once (``auto_approve``), is shown once and stored as SHA-256."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.auth.credentials import digest, new_secret
from tagpipe.auth.models import ProvisioningKey
from tagpipe.db.base import utcnow
from tagpipe.errors import InvalidInput, NotAuthenticated, NotFound

KEY_PREFIX = "tpk_"
MAX_DAYS = 366


def _naive_utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def create_key(session: Session, *, name: str, expires_at: dt.datetime, max_uses: int = 1,
               auto_approve: bool = False, created_by: str = "") -> tuple[ProvisioningKey, str]:
    """A new key and its secret, which is never shown again."""
    expires = _naive_utc(expires_at)
    now = utcnow()
    if expires <= now:
        raise InvalidInput("expires_at", "a time in the future", expires.isoformat())
    if expires > now + dt.timedelta(days=MAX_DAYS):
        raise InvalidInput("expires_at", f"at most {MAX_DAYS} days ahead", expires.isoformat())
    if max_uses < 1:
        raise InvalidInput("max_uses", "at least 1", str(max_uses))
    secret = new_secret(KEY_PREFIX)
    key = ProvisioningKey(name=name, secret_hash=digest(secret), prefix=secret[:8], expires_at=expires,
                          max_uses=max_uses, auto_approve=auto_approve, created_by=created_by)
    session.add(key)
    session.flush()
    return key, secret


def list_keys(session: Session) -> list[ProvisioningKey]:
    return list(session.scalars(select(ProvisioningKey).order_by(ProvisioningKey.id)))


def revoke_key(session: Session, key_id: int) -> ProvisioningKey:
    key = session.get(ProvisioningKey, key_id)
    if key is None:
        raise NotFound(f"provisioning key {key_id} does not exist")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def state(key: ProvisioningKey, now: dt.datetime | None = None) -> str:
    """usable, expired, used up or revoked."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at <= (now or utcnow()):
        return "expired"
    if key.uses >= key.max_uses:
        return "used up"
    return "usable"


def use_key(session: Session, secret: str) -> ProvisioningKey:
    """Spend one use of the key ``secret`` (row-locked where the database can); NotAuthenticated saying why not."""
    key = session.scalar(select(ProvisioningKey).where(ProvisioningKey.secret_hash == digest(secret))
                         .with_for_update())
    if key is None:
        raise NotAuthenticated("the provisioning key is not valid")
    why = state(key)
    if why != "usable":
        raise NotAuthenticated(f"the provisioning key is {why}")
    key.uses += 1
    return key
