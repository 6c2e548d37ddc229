"""Log in with a password (throttled) or a one-time login link; log out.

Throttling: the 6th failed log in within a minute for one user name, or from one address, is refused with 429
before the password is even looked at, and ``Retry-After`` says when the oldest counted failure leaves the window.
Unknown user and wrong password fail alike, and take as long.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from tagpipe.auth.credentials import digest, hash_password, needs_rehash, new_secret, verify_password
from tagpipe.auth.identify import Roles, user_principal
from tagpipe.auth.models import ApiToken, LoginFailure, LoginSession, User
from tagpipe.auth.principal import Principal
from tagpipe.db.base import now_ms, utcnow
from tagpipe.errors import NotAuthenticated, TooManyAttempts

WINDOW_MS = 60_000
LIMIT = 5  # failures in the window; the next attempt is refused
KEEP_MS = 86_400_000
LINK_TTL = dt.timedelta(hours=24)
BAD_LOGIN = "unknown user name or wrong password"
# One log in at a time per process: the throttle check and the failure it records cannot interleave, and argon2's
# 64 MiB per verification is spent once at a time.
_LOCK = threading.Lock()


def retry_after_ms(failures: Sequence[int], now: int) -> int:
    """How long until fewer than LIMIT of ``failures`` (times in ms) are within the window; 0 when they already are."""
    recent = sorted(t for t in failures if t > now - WINDOW_MS)
    if len(recent) < LIMIT:
        return 0
    return recent[-LIMIT] + WINDOW_MS - now


def check_throttle(session: Session, username: str, address: str, now: int) -> None:
    rows = session.execute(select(LoginFailure.at_ms, LoginFailure.username, LoginFailure.address).where(
        LoginFailure.at_ms > now - WINDOW_MS,
        or_(LoginFailure.username == username, LoginFailure.address == address))).all()
    wait = max(retry_after_ms([t for t, u, _ in rows if u == username], now),
               retry_after_ms([t for t, _, a in rows if a == address], now))
    if wait > 0:
        raise TooManyAttempts(f"too many failed log ins for this user or from this address; try again in "
                              f"{math.ceil(wait / 1000)} s", max(1, math.ceil(wait / 1000)))


def new_session(session: Session, user: User, hours: float, address: str) -> tuple[LoginSession, str]:
    secret = new_secret()
    login = LoginSession(user_id=user.id, secret_hash=digest(secret), csrf=new_secret(), address=address[:64],
                         expires_at=utcnow() + dt.timedelta(hours=hours))
    session.add(login)
    user.last_login_at = utcnow()
    session.commit()
    return login, secret


def login(session: Session, username: str, password: str, address: str, roles: Roles,
          hours: float) -> tuple[Principal, str]:
    """The principal of a new session and the session's secret (the cookie's value)."""
    name = username.strip().lower()[:120]
    with _LOCK:
        now = now_ms()
        check_throttle(session, name, address, now)
        user = session.scalar(select(User).where(User.username == name))
        ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or user.disabled:
            session.add(LoginFailure(at_ms=now, username=name, address=address[:64]))
            session.execute(delete(LoginFailure).where(LoginFailure.at_ms < now - KEEP_MS))
            session.commit()
            raise NotAuthenticated(BAD_LOGIN)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    login_row, secret = new_session(session, user, hours, address)
    return user_principal(user, roles, via="session", session_id=login_row.id, csrf=login_row.csrf), secret


def logout(session: Session, session_id: int | None) -> None:
    found = session.get(LoginSession, session_id) if session_id is not None else None
    if found is not None:
        session.delete(found)  # through the ORM, so the credential cache sees it
        session.commit()


def create_link(session: Session, username: str, created_by: str = "", ttl: dt.timedelta = LINK_TTL) -> str:
    """A one-time login link's secret for ``username``: it logs a browser in once, then is void."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotAuthenticated(f"no user named {username!r}")
    secret = new_secret()
    session.add(ApiToken(kind="link", user_id=user.id, name="login link", role=user.role, secret_hash=digest(secret),
                         prefix=secret[:6], created_by=created_by, expires_at=utcnow() + ttl))
    session.commit()
    return secret


def redeem_link(session: Session, secret: str, address: str, roles: Roles, hours: float) -> tuple[Principal, str]:
    """Void the link and open a session for its user; NotAuthenticated when it is unknown, used or expired."""
    now = utcnow()
    link = session.scalar(select(ApiToken).where(ApiToken.secret_hash == digest(secret), ApiToken.kind == "link"))
    if link is None or link.revoked_at is not None or (link.expires_at and link.expires_at <= now):
        raise NotAuthenticated("the login link is not valid (it works once, and only for a day)")
    link.revoked_at = now
    link.last_used_at = now
    user = session.get(User, link.user_id)
    if user is None or user.disabled:
        session.commit()
        raise NotAuthenticated("the login link is not valid")
    login_row, session_secret = new_session(session, user, hours, address)
    return user_principal(user, roles, via="link", session_id=login_row.id, csrf=login_row.csrf), session_secret
