"""The audit log, written centrally: nothing in a feature calls it.

- ``AuditMiddleware`` writes one entry for every state-changing API request that has a principal (or is a log in):
  who, from where, the route, the outcome (the HTTP status, refusals included) and the redacted body.
- A SQLAlchemy ``after_flush`` listener sees every row a principal inserts, changes or deletes, with the changed
  fields (a unified diff for text such as a script's code): inside an API request they join that request's entry;
  from a UI event (a page's button) they are written, before the commit, as an entry of their own in the same
  transaction.

Rows of the auth bookkeeping (sessions, failed log ins, the audit log itself) are not audited as changes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, sessionmaker

from tagpipe.auth.models import AuditEntry
from tagpipe.auth.policy import route_template
from tagpipe.auth.principal import Principal, current
from tagpipe.auth.redact import change, redact
from tagpipe.db.base import utcnow

if TYPE_CHECKING:
    from tagpipe.services import Services

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 64 * 1024
SKIP_TABLES = frozenset({"audit_log", "auth_sessions", "auth_login_failures"})
QUIET = frozenset({"updated_at", "last_used_at", "last_login_at"})  # bookkeeping that alone is no change
NAMES = ("name", "username", "edge_id", "command", "kind")
ACTIONS = {"POST /api/auth/login": "log in", "POST /api/auth/logout": "log out",
           "POST /api/auth/password": "change own password"}


@dataclass(eq=False)
class RequestAudit:
    """What one API request contributes to its audit entry, filled in while it runs."""

    address: str
    principal: Principal | None = None
    attempted: str | None = None  # the user name of a log in
    changes: list[dict[str, Any]] = field(default_factory=list)


_REQUEST: ContextVar[RequestAudit | None] = ContextVar("tagpipe_request_audit", default=None)


def note(*, principal: Principal | None = None, attempted: str | None = None) -> None:
    """Tell this request's audit entry who acted (the authorize dependency) or who tried to log in."""
    ctx = _REQUEST.get()
    if ctx is not None:
        ctx.principal = principal or ctx.principal
        ctx.attempted = attempted or ctx.attempted


def entry(*, principal: Principal | str, action: str, target: str = "", status: int = 200, address: str = "",
          detail: dict[str, Any] | None = None) -> dict[str, Any]:
    who, role = (principal.label, principal.role) if isinstance(principal, Principal) else (principal, "")
    return {"at": utcnow(), "principal": who[:200], "role": role, "address": address[:64], "action": action[:200],
            "target": target[:500], "status": status, "detail": detail or {}}


def record(session: Session, **fields: Any) -> None:
    """Write one entry now (the CLI, a login link): same fields as ``entry``."""
    session.execute(insert(AuditEntry), [entry(**fields)])
    session.commit()


# -- changes, from the ORM ------------------------------------------------------------------------------------------

def describe(obj: object, op: str) -> dict[str, Any] | None:
    """One changed row as the audit log shows it, or None for a row or a change not worth an entry."""
    table = getattr(obj, "__tablename__", None)
    if table is None or table in SKIP_TABLES:
        return None
    state = inspect(obj)
    mapper = state.mapper
    ident = "/".join(str(v) for v in mapper.primary_key_from_instance(obj))
    fields: dict[str, Any] = {}
    if op == "insert":
        fields = redact({a.key: getattr(obj, a.key) for a in mapper.column_attrs if a.key not in QUIET})
    elif op == "update":
        for a in mapper.column_attrs:
            history = state.attrs[a.key].history
            if history.has_changes() and a.key not in QUIET:
                fields[a.key] = change(a.key, history.deleted[0] if history.deleted else None,
                                       history.added[0] if history.added else None)
        if not fields:
            return None
    else:
        fields = redact({k: getattr(obj, k) for k in NAMES if hasattr(obj, k)})
    return {"table": table, "op": op, "id": ident, "fields": fields}


def _changes(session: Session) -> list[dict[str, Any]]:
    found = []
    for op, objs in (("insert", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objs:
            if op == "update" and not session.is_modified(obj):
                continue
            described = describe(obj, op)
            if described is not None:
                found.append(described)
    return found


def merge(into: list[dict[str, Any]], changes: list[dict[str, Any]]) -> None:
    """Add ``changes`` to ``into``, one record per row: a row flushed twice in one action is one change."""
    seen = {(c["table"], c["id"]): c for c in into}
    for c in changes:
        found = seen.get((c["table"], c["id"]))
        if found is None:
            into.append(c)
            seen[(c["table"], c["id"])] = c
        else:
            found["fields"].update(c["fields"])
            found["op"] = "delete" if c["op"] == "delete" else found["op"]


def _after_flush(session: Session, _context: object) -> None:
    if current() is not None:
        merge(session.info.setdefault("audit.pending", []), _changes(session))


def _before_commit(session: Session) -> None:
    """A UI event's changes: one entry, written in the transaction that makes them."""
    principal = current()
    if principal is None or _REQUEST.get() is not None:
        return
    session.flush()
    changes = session.info.pop("audit.pending", None)
    if not changes:
        return
    kinds = ", ".join(dict.fromkeys(f"{c['op']} {c['table']}" for c in changes))
    first = changes[0]
    session.connection().execute(insert(AuditEntry), [entry(
        principal=principal, action=f"ui: {kinds}", target=f"{first['table']}/{first['id']}",
        address=principal.address, detail={"changes": changes})])


def _after_commit(session: Session) -> None:
    """An API request's changes join its entry, which the middleware writes once the request is answered."""
    pending = session.info.pop("audit.pending", None)
    ctx = _REQUEST.get()
    if pending and ctx is not None:
        merge(ctx.changes, pending)


def _after_rollback(session: Session) -> None:
    session.info.pop("audit.pending", None)


def install_listener(sessions: sessionmaker[Session]) -> None:
    """Audit what principals change through sessions of this factory (the server's)."""
    event.listen(sessions, "after_flush", _after_flush)
    event.listen(sessions, "before_commit", _before_commit)
    event.listen(sessions, "after_commit", _after_commit)
    event.listen(sessions, "after_soft_rollback", lambda s, _t: _after_rollback(s))


# -- requests, from an ASGI middleware ------------------------------------------------------------------------------

def _body(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) >= MAX_BODY:
        return f"({len(raw)} bytes or more)"
    try:
        return redact(json.loads(raw))
    except ValueError:
        return f"({len(raw)} bytes, not JSON)"


class AuditMiddleware:
    """Writes the audit entry of every state-changing ``/api`` request, after its response has been sent."""

    def __init__(self, app: Callable[..., Awaitable[None]], services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ctx = RequestAudit(address=client[0] if client else "")
        body = bytearray()
        status = 500

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < MAX_BODY:
                body.extend(message.get("body", b"")[:MAX_BODY])
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = _REQUEST.set(ctx)
        try:
            await self.app(scope, receiving, sending)
        finally:
            _REQUEST.reset(token)
            if ctx.principal is not None or ctx.attempted is not None:
                await self._write(scope, ctx, status, bytes(body))

    async def _write(self, scope: Scope, ctx: RequestAudit, status: int, body: bytes) -> None:
        template = f"{scope['method']} {route_template(scope)}"
        detail: dict[str, Any] = {"body": _body(body)}
        if ctx.changes:
            detail["changes"] = ctx.changes
        fields = entry(principal=ctx.principal or ctx.attempted or "", action=ACTIONS.get(template, template),
                       target=scope["path"], status=status, address=ctx.address, detail=detail)

        def write(session: Session) -> None:
            session.execute(insert(AuditEntry), [fields])
            session.commit()

        try:
            await self.services.run_db(write)
        except Exception:
            log.exception("could not write the audit entry of %s %s", scope["method"], scope["path"])
