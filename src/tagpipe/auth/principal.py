"""Who is acting: the principal of the current request or UI event, held in a context variable.

The authorize dependency binds it for an API request, the page guard for a page build, and a NiceGUI event handler
finds it through its client; ``Services.run_db`` carries it into the database thread, where the audit listener
reads it. Workers and the CLI bind nobody (or ``system``), and nothing they change is attributed to a user.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """A user (through a browser session, an API token or a login link), an edge, or the system itself."""

    kind: str  # user | edge | system
    name: str
    role: str
    permissions: frozenset[str]
    via: str  # session | token | link | cli | off
    user_id: int | None = None
    session_id: int | None = None
    token_id: int | None = None
    token_name: str | None = None
    csrf: str | None = None
    address: str = ""  # where the request or the browser tab came from
    valid_until: dt.datetime | None = None  # when its credential expires (naive UTC)

    def can(self, permission: str) -> bool:
        return self.role == "admin" or permission in self.permissions

    @property
    def label(self) -> str:
        """How the audit log names it: ``alice``, ``alice (token ci)``, ``edge press-1``."""
        if self.kind == "edge":
            return f"edge {self.name}"
        return f"{self.name} (token {self.token_name})" if self.via == "token" else self.name


_CURRENT: ContextVar[Principal | None] = ContextVar("tagpipe_principal", default=None)
# NiceGUI clients (browser tabs) and who loaded them; an entry goes when its client is garbage.
_CLIENTS: weakref.WeakKeyDictionary[Any, Principal] = weakref.WeakKeyDictionary()


def current() -> Principal | None:
    """The principal of this request, page build or UI event; None in workers and background tasks."""
    principal = _CURRENT.get()
    if principal is None and "nicegui" in sys.modules:
        client = _ui_client()
        if client is not None:
            principal = _CLIENTS.get(client)
    return principal


def bind(principal: Principal) -> None:
    """Make ``principal`` the current one for the rest of this task (an API request, a page build)."""
    _CURRENT.set(principal)


@contextlib.contextmanager
def acting(principal: Principal | None) -> Iterator[None]:
    """Make ``principal`` the current one inside the block (a database thread, a CLI command)."""
    if principal is None:
        yield
        return
    token = _CURRENT.set(principal)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def remember_client(client: Any, principal: Principal) -> None:
    """The principal of a browser tab, for the event handlers that run later on behalf of it."""
    _CLIENTS[client] = principal


def _ui_client() -> Any:
    """The NiceGUI client whose event is being handled in this task, without creating one."""
    from nicegui.slot import Slot, get_task_id

    try:
        stack = Slot.stacks.get(get_task_id())
    except RuntimeError:  # no running task (a database thread)
        return None
    return stack[-1].parent.client if stack else None
