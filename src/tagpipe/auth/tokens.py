"""API tokens: created by a user for themselves (an admin for anyone), shown once, stored as SHA-256, with a name,
an optional expiry and a role no higher than the creator's (nor than the user it acts for); revocable at once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.auth.credentials import TOKEN_PREFIX, digest, new_secret
from tagpipe.auth.models import ApiToken, User
from tagpipe.auth.principal import Principal
from tagpipe.auth.roles import rank
from tagpipe.auth.users import check_role, find_user
from tagpipe.db import fits
from tagpipe.db.base import utcnow
from tagpipe.errors import Forbidden, InvalidInput, NotFound

MANAGE = "users.manage"


def create_token(session: Session, creator: Principal, *, name: str, role: str | None = None,
                 username: str | None = None, expires_at: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """The stored token and its secret, which is never shown again."""
    owner = find_user(session, username) if username else session.get(User, creator.user_id or 0)
    if owner is None:
        raise NotFound(f"no user named {username!r}" if username else "API tokens belong to a user")
    if owner.id != creator.user_id and not creator.can(MANAGE):
        raise Forbidden(f"creating a token for another user needs the permission {MANAGE}")
    role = check_role(role or min(owner.role, creator.role, key=rank))
    for whose, limit in (("your", creator.role), (f"{owner.username}'s", owner.role)):
        if rank(role) > rank(limit):
            raise Forbidden(f"a token's role cannot be higher than {whose} role: {role} is higher than {limit}")
    if expires_at is not None:
        expires_at = expires_at.astimezone(dt.UTC).replace(tzinfo=None) if expires_at.tzinfo else expires_at
        if expires_at <= utcnow():
            raise InvalidInput("expires_at", "a time in the future", expires_at.isoformat())
    secret = new_secret(TOKEN_PREFIX)
    token = ApiToken(kind="api", user_id=owner.id, name=name, role=role, secret_hash=digest(secret),
                     prefix=secret[:8], created_by=creator.name, expires_at=expires_at)
    session.add(token)
    session.commit()
    return token, secret


def list_tokens(session: Session, principal: Principal, everyone: bool = False) -> list[ApiToken]:
    """The caller's API tokens, or everyone's for an admin who asks."""
    q = select(ApiToken).where(ApiToken.kind == "api").order_by(ApiToken.id)
    if not (everyone and principal.can(MANAGE)):
        q = q.where(ApiToken.user_id == principal.user_id)
    return list(session.scalars(q))


def revoke_token(session: Session, principal: Principal, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id) if fits(token_id) else None  # an id beyond the column is never stored
    if token is None or token.kind != "api" or (token.user_id != principal.user_id and not principal.can(MANAGE)):
        raise NotFound(f"token {token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.commit()
    return token
