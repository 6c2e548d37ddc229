"""First start: who may log in to a server that has no admin yet.

- A non-loopback ``TAGPIPE_HOST`` is refused until an admin exists (``tagpipe user add NAME --role admin``).
- On loopback (``tagpipe up`` for a first look) and for ``tagpipe demo``: a user ``admin`` with a random password
  is created and a one-time login link is printed, as the demo does, so the first page is seconds away. Nobody is
  ever let in without credentials.
- ``tagpipe demo`` with an admin already there prints a fresh one-time link for that admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.auth import audit
from tagpipe.auth.credentials import new_secret
from tagpipe.auth.login import create_link
from tagpipe.auth.models import User
from tagpipe.auth.users import admin_exists, create_user, find_user
from tagpipe.db import make_engine
from tagpipe.settings import Settings

NO_ADMIN = ("No admin user exists, and {host} is not a loopback address: nobody could log in. Create one first:\n"
            "    tagpipe user add NAME --role admin\n"
            "(with the same TAGPIPE_DATA_DIR / TAGPIPE_DATABASE_URL), then start again.")


class NoAdmin(Exception):
    """The server would listen beyond this machine with nobody able to log in."""


@dataclass(frozen=True, kw_only=True)
class FirstStart:
    link: str | None = None  # a one-time login link to print
    username: str | None = None
    password: str | None = None  # set when the admin was created just now


def prepare(settings: Settings, *, demo: bool = False) -> FirstStart:
    """Make sure somebody can log in before serving (see the module docstring); NoAdmin when nobody can."""
    if settings.auth == "off":
        return FirstStart()
    engine = make_engine(settings.db_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            if admin_exists(session):
                if not demo:
                    return FirstStart()
                name = session.scalar(select(User.username).where(User.role == "admin", User.disabled.is_(False))
                                      .order_by(User.id))
                return FirstStart(link=_link(settings, session, name or ""), username=name)
            if not (settings.loopback or demo):
                raise NoAdmin(NO_ADMIN.format(host=settings.host))
            name = next(n for n in ("admin", *(f"admin{i}" for i in range(2, 100))) if find_user(session, n) is None)
            password = new_secret()[:20]
            create_user(session, name, "admin", password)
            audit.record(session, principal="tagpipe (first start)", action="create user", target=f"users/{name}",
                         detail={"username": name, "role": "admin"})
            return FirstStart(link=_link(settings, session, name), username=name, password=password)
    finally:
        engine.dispose()


def _link(settings: Settings, session: Session, username: str) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    scheme = "https" if settings.https else "http"
    return f"{scheme}://{host}:{settings.http_port}/api/auth/link/{create_link(session, username, 'tagpipe')}"
