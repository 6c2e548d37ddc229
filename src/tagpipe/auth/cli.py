"""``tagpipe user ...`` and ``tagpipe token ...``: against the configured database, whether or not a server runs."""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from tagpipe.auth import audit, login, tokens, users
from tagpipe.auth.principal import Principal
from tagpipe.auth.roles import ROLES
from tagpipe.errors import TagpipeError
from tagpipe.settings import Settings

app = typer.Typer(add_completion=False)
user_app = typer.Typer(help="Users who log in: add, list, new password, one-time login link.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (Authorization: Bearer ...): create, list, revoke.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
console = Console()

DataDir = Annotated[Path | None, typer.Option(help="Data directory (SQLite). Env: TAGPIPE_DATA_DIR.")]
RoleOpt = Annotated[str, typer.Option(help="viewer, operator, engineer or admin.")]


def _who() -> str:
    return f"cli ({getpass.getuser()})"


@contextlib.contextmanager
def _session(data_dir: Path | None) -> Iterator[Session]:
    """A session on the configured database (migrated first), and a clear message for a refused change."""
    from tagpipe.db import make_engine, upgrade

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    except TagpipeError as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _new_password(password: str | None) -> str:
    return password or typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def user_add(name: str, role: RoleOpt = "viewer",
             password: Annotated[str | None, typer.Option(help="Prompted for when not given.")] = None,
             data_dir: DataDir = None) -> None:
    """Add a user (``--role admin`` for the first one)."""
    if role not in ROLES:
        raise typer.BadParameter(f"expected one of {', '.join(ROLES)}", param_hint="--role")
    secret = _new_password(password)
    with _session(data_dir) as s:
        user = users.create_user(s, name, role, secret)
        audit.record(s, principal=_who(), action="create user", target=f"users/{user.id}",
                     detail={"username": user.username, "role": role})
    console.print(f"user [bold]{user.username}[/] ({role}) added")


@user_app.command("list")
def user_list(data_dir: DataDir = None) -> None:
    """Every user with role and last log in."""
    table = Table("id", "user", "role", "locked", "last log in")
    with _session(data_dir) as s:
        for u in users.list_users(s):
            table.add_row(str(u.id), u.username, u.role, "yes" if u.disabled else "",
                          u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "never")
    console.print(table)


@user_app.command("passwd")
def user_passwd(name: str, password: Annotated[str | None, typer.Option(help="Prompted for when not given.")] = None,
                data_dir: DataDir = None) -> None:
    """Set a user's password (their sessions end)."""
    secret = _new_password(password)
    with _session(data_dir) as s:
        user = users.find_user(s, name)
        if user is None:
            console.print(f"[red]no user named {name!r}[/]")
            raise typer.Exit(1)
        users.update_user(s, user.id, password=secret)
        audit.record(s, principal=_who(), action="set password", target=f"users/{user.id}")
    console.print(f"password of [bold]{user.username}[/] changed")


@user_app.command("link")
def user_link(name: str, base_url: Annotated[str, typer.Option(help="The server's address.")] = "",
              data_dir: DataDir = None) -> None:
    """Print a one-time login link for a user (valid a day, void once used)."""
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    base = base_url.rstrip("/") or f"http://{settings.host}:{settings.http_port}"
    with _session(data_dir) as s:
        secret = login.create_link(s, name, _who())
        audit.record(s, principal=_who(), action="create login link", target=f"users/{name}")
    console.print(f"{base}/api/auth/link/{secret}", soft_wrap=True)


def parse_expiry(text: str | None) -> dt.datetime | None:
    """``30d``, ``12h`` or an ISO date or time (UTC unless it says otherwise)."""
    if not text:
        return None
    m = re.fullmatch(r"(\d+)\s*([dh])", text.strip())
    if m:
        n = int(m.group(1))
        return dt.datetime.now(dt.UTC) + (dt.timedelta(days=n) if m.group(2) == "d" else dt.timedelta(hours=n))
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("expected 30d, 12h or an ISO date such as 2027-01-31",
                                 param_hint="--expires") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@token_app.command("create")
def token_create(user: Annotated[str, typer.Option(help="Whose token.")],
                 name: Annotated[str, typer.Option(help="What it is for, e.g. 'historian export'.")],
                 role: Annotated[str | None, typer.Option(help="Default: the user's role; never higher.")] = None,
                 expires: Annotated[str | None, typer.Option(help="30d, 12h or an ISO date; default never.")] = None,
                 data_dir: DataDir = None) -> None:
    """Create an API token and print it, once: send it as 'Authorization: Bearer <token>'."""
    when = parse_expiry(expires)
    cli = Principal(kind="system", name=_who(), role="admin", permissions=frozenset({tokens.MANAGE}), via="cli")
    with _session(data_dir) as s:
        token, secret = tokens.create_token(s, cli, name=name, role=role, username=user, expires_at=when)
        audit.record(s, principal=_who(), action="create token", target=f"tokens/{token.id}",
                     detail={"user": user, "name": name, "role": token.role,
                             "expires_at": token.expires_at.isoformat() if token.expires_at else None})
    console.print(secret, soft_wrap=True, highlight=False)


@token_app.command("list")
def token_list(data_dir: DataDir = None) -> None:
    """Every API token (never the token itself) with its last use."""
    table = Table("id", "user", "name", "role", "prefix", "expires", "last used", "revoked")
    cli = Principal(kind="system", name=_who(), role="admin", permissions=frozenset({tokens.MANAGE}), via="cli")
    with _session(data_dir) as s:
        for t in tokens.list_tokens(s, cli, everyone=True):
            table.add_row(str(t.id), t.user.username if t.user else "", t.name, t.role, t.prefix,
                          *[v.isoformat(timespec="seconds") if v else "" for v in (t.expires_at, t.last_used_at,
                                                                                   t.revoked_at)])
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int, data_dir: DataDir = None) -> None:
    """Revoke a token: the next request with it is refused."""
    cli = Principal(kind="system", name=_who(), role="admin", permissions=frozenset({tokens.MANAGE}), via="cli")
    with _session(data_dir) as s:
        tokens.revoke_token(s, cli, token_id)
        audit.record(s, principal=_who(), action="revoke token", target=f"tokens/{token_id}")
    console.print(f"token {token_id} revoked")


open_session = _session  # for other features' commands (tagpipe fleet ...): the configured database, errors printed
