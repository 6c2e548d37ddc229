"""From a credential to a principal: an API token or a session cookie, checked against the database each time, so a
revocation, a logout or a locked user takes effect on the very next request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.auth.credentials import digest
from tagpipe.auth.models import ApiToken, LoginSession, User
from tagpipe.auth.principal import Principal
from tagpipe.auth.roles import ROLES, rank
from tagpipe.db.base import utcnow
from tagpipe.errors import NotAuthenticated

Roles = Mapping[str, frozenset[str]]  # role -> its permissions
LAST_USE_EVERY = dt.timedelta(minutes=1)  # how stale a token's last use may get before it is written again


def user_principal(user: User, roles: Roles, *, via: str, role: str | None = None, **ids: object) -> Principal:
    effective = role if role is not None and rank(role) < rank(user.role) else user.role
    return Principal(kind="user", name=user.username, role=effective, permissions=roles[effective], via=via,
                     user_id=user.id, **ids)  # type: ignore[arg-type]


def by_token(session: Session, secret: str, roles: Roles) -> Principal:
    now = utcnow()
    row = session.execute(select(ApiToken, User).outerjoin(User, ApiToken.user_id == User.id)
                          .where(ApiToken.secret_hash == digest(secret))).first()
    if row is None or row[0].kind == "link":
        raise NotAuthenticated("the token is not valid")
    token, user = row
    if token.revoked_at is not None:
        raise NotAuthenticated("the token was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise NotAuthenticated("the token has expired")
    if token.last_used_at is None or now - token.last_used_at > LAST_USE_EVERY:
        token.last_used_at = now
        session.commit()
    if token.kind == "edge":  # issue 10, item 5: an edge's own credential; holds no user permission
        return Principal(kind="edge", name=token.edge_id or token.name, role="edge", permissions=frozenset(),
                         via="token", token_id=token.id, token_name=token.name, valid_until=token.expires_at)
    if user is None or user.disabled:
        raise NotAuthenticated("the token is not valid")
    role = token.role if token.role in ROLES else "viewer"
    return user_principal(user, roles, via="token", role=role, token_id=token.id, token_name=token.name,
                          valid_until=token.expires_at)


def by_session(session: Session, secret: str, roles: Roles) -> Principal:
    row = session.execute(select(LoginSession, User).join(User, LoginSession.user_id == User.id)
                          .where(LoginSession.secret_hash == digest(secret))).first()
    if row is None:
        raise NotAuthenticated("the session has ended; log in again")
    login, user = row
    if login.expires_at <= utcnow():
        session.delete(login)
        session.commit()
        raise NotAuthenticated("the session has expired; log in again")
    if user.disabled:
        raise NotAuthenticated("the session has ended; log in again")
    return user_principal(user, roles, via="session", session_id=login.id, csrf=login.csrf,
                          valid_until=login.expires_at)
