"""Users: create, change (role, disabled, password), delete, and one's own password change."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tagpipe.auth.credentials import check_password_policy, hash_password, verify_password
from tagpipe.auth.models import LoginSession, User
from tagpipe.auth.principal import Principal
from tagpipe.auth.roles import ROLES, rank
from tagpipe.db import fits
from tagpipe.db.base import utcnow
from tagpipe.errors import Conflict, InvalidInput, NotAuthenticated, NotFound

USERNAME = re.compile(r"^[^\s/:]{1,120}$")


def normal_name(username: str) -> str:
    """User names are compared without case: 'Alice' logs in as 'alice'."""
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise InvalidInput("username", "1 to 120 characters without spaces, '/' or ':'", username)
    return name


def check_role(role: str, field: str = "role") -> str:
    if role not in ROLES:
        raise InvalidInput(field, "one of " + ", ".join(ROLES), role)
    return role


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id) if fits(user_id) else None  # an id beyond the column is never stored
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def admin_exists(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(User).where(User.role == "admin",
                                                                        User.disabled.is_(False))) > 0


def create_user(session: Session, username: str, role: str, password: str) -> User:
    name = normal_name(username)
    check_role(role)
    check_password_policy(password)
    if find_user(session, name) is not None:
        raise Conflict(f"a user named {name!r} exists already")
    user = User(username=name, role=role, password_hash=hash_password(password))
    session.add(user)
    session.commit()
    return user


def _keep_an_admin(session: Session, user: User, role: str | None, disabled: bool | None) -> None:
    losing = user.role == "admin" and not user.disabled and ((role is not None and role != "admin") or disabled)
    if losing and session.scalar(select(func.count()).select_from(User).where(
            User.role == "admin", User.disabled.is_(False), User.id != user.id)) == 0:
        raise Conflict(f"{user.username} is the last admin; make another user admin first")


def end_sessions(session: Session, user_id: int, keep: int | None = None) -> None:
    for s in session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)):
        if s.id != keep:
            session.delete(s)


def update_user(session: Session, user_id: int, *, role: str | None = None, disabled: bool | None = None,
                password: str | None = None) -> User:
    """Change a user's role, lock or unlock them, or set a new password; locking or a new password ends their
    sessions, and a lower role lowers their tokens (a token never acts above its user)."""
    user = get_user(session, user_id)
    if role is not None:
        check_role(role)
    if password is not None:
        check_password_policy(password)
    _keep_an_admin(session, user, role, disabled)
    if role is not None:
        user.role = role
    if disabled is not None:
        user.disabled = disabled
    if password is not None:
        user.password_hash = hash_password(password)
        user.password_changed_at = utcnow()
    if disabled or password is not None:
        end_sessions(session, user.id)
    session.commit()
    return user


def delete_user(session: Session, user_id: int, actor: Principal) -> None:
    user = get_user(session, user_id)
    if actor.user_id == user.id:
        raise Conflict("you cannot delete yourself; ask another admin")
    _keep_an_admin(session, user, None, True)
    session.delete(user)
    session.commit()


def change_own_password(session: Session, principal: Principal, current: str, new: str) -> None:
    """A user's own change: the current password is needed; every other session of theirs ends."""
    user = get_user(session, principal.user_id or 0)
    if not verify_password(user.password_hash, current):
        raise NotAuthenticated("the current password is wrong")
    check_password_policy(new, "new_password")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    end_sessions(session, user.id, keep=principal.session_id)
    session.commit()


def outranks(role: str, other: str) -> bool:
    return rank(role) > rank(other)
