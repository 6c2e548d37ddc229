"""Pages: log in, Account (own password and API tokens), Admin → Users, and the Audit log with filters and CSV."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from nicegui import ui

from tagpipe.auth import auditlog, tokens, users
from tagpipe.auth.api import safe_next, token_out
from tagpipe.auth.auditlog import AuditFilter
from tagpipe.auth.principal import current
from tagpipe.auth.roles import PUBLIC, ROLES
from tagpipe.errors import TagpipeError
from tagpipe.feature import Page
from tagpipe.services import Services
from tagpipe.web.shell import page

# The browser posts the form itself, so the session cookie is set on it; the answer comes back here.
LOGIN_JS = """const r = await fetch('/api/auth/login', {method: 'POST', credentials: 'same-origin',
  headers: {'Content-Type': 'application/json'}, body: JSON.stringify(%s)});
let body = {}; try { body = await r.json(); } catch (e) {}
return {status: r.status, detail: body.detail || '', retry: r.headers.get('Retry-After')};"""
AUDIT_COLUMNS = [{"name": c, "label": c.title(), "field": c, "align": "left"}
                 for c in ("at", "principal", "role", "address", "action", "target", "status", "detail")]


def _when(t: dt.datetime | None) -> str:
    return t.isoformat(timespec="seconds") + "Z" if t else ""


async def login_page(services: Services, next: str = "/", link: str = "") -> None:
    target = safe_next(next)
    ui.page_title("Log in · tagpipe")
    with ui.column().classes("absolute-center items-stretch w-80 gap-3"):
        ui.label("tagpipe").classes("text-2xl font-bold")
        if link:
            ui.label("That login link is not valid: it works once, and only for a day.").classes("text-negative")
        username = ui.input("User name").props("autofocus autocomplete=username data-testid=username")
        password = ui.input("Password", password=True).props("autocomplete=current-password data-testid=password")
        message = ui.label("").classes("text-negative text-sm").props("data-testid=login-message")

        async def submit() -> None:
            message.text = ""
            body = json.dumps({"username": username.value or "", "password": password.value or ""})
            answer = await ui.run_javascript(LOGIN_JS % body, timeout=30)
            if answer and answer.get("status") == 200:
                ui.navigate.to(target)
                return
            message.text = (answer or {}).get("detail") or "Could not log in."

        password.on("keydown.enter", submit)
        ui.button("Log in", on_click=submit).props("data-testid=login")


async def account_page(services: Services) -> None:
    me = current()
    assert me is not None, "the page guard binds the user"
    with page(services, "Account"):
        ui.label(f"{me.name} · {me.role}").classes("text-lg")
        with ui.card().classes("w-96"):
            ui.label("Change password").classes("font-medium")
            old = ui.input("Current password", password=True)
            new = ui.input("New password (8 characters or more)", password=True)
            note = ui.label("").classes("text-sm")

            async def change() -> None:
                try:
                    await services.run_db(users.change_own_password, me, old.value or "", new.value or "")
                except TagpipeError as e:
                    note.text = str(e)
                    note.classes(replace="text-sm text-negative")
                    return
                old.value = new.value = ""
                note.text = "Password changed; your other sessions have ended."
                note.classes(replace="text-sm text-positive")

            ui.button("Change password", on_click=change)
        await tokens_panel(services, everyone=False)


async def tokens_panel(services: Services, everyone: bool) -> None:
    """API tokens (one's own, or everyone's for an admin): list with last use, create (shown once), revoke."""
    me = current()
    assert me is not None
    columns = [{"name": c, "label": c.replace("_", " ").title(), "field": c, "align": "left"}
               for c in ("id", "username", "name", "role", "prefix", "expires_at", "last_used_at", "revoked_at")]
    with ui.card().classes("w-full"):
        ui.label("API tokens").classes("font-medium")
        table = ui.table(columns=columns, rows=[], row_key="id").classes("w-full").props("dense flat")
        table.add_slot("body-cell-revoked_at", '''<q-td :props="props">{{ props.value }}
            <q-btn v-if="!props.value" size="sm" dense flat color="red" label="revoke"
                   @click="$parent.$emit('revoke', props.row)" /></q-td>''')
        with ui.row().classes("items-end gap-4"):
            name = ui.input("Name", placeholder="historian export")
            role = ui.select([r for r in ROLES if ROLES.index(r) <= ROLES.index(me.role)], value=me.role, label="Role")
            days = ui.number("Expires in days (empty: never)", value=None, min=1).classes("w-56")
            create = ui.button("Create token")
        shown = ui.label("").classes("font-mono text-sm break-all").props("data-testid=new-token")

        def rows(session) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
            out = []
            for t in tokens.list_tokens(session, me, everyone):
                row = token_out(t).model_dump()
                out.append({**row, **{k: _when(row[k]) for k in ("expires_at", "last_used_at", "revoked_at")}})
            return out

        async def refresh() -> None:
            table.rows = await services.run_db(rows)
            table.update()

        async def make() -> None:
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=float(days.value)) if days.value else None

            def act(session):  # type: ignore[no-untyped-def]
                return tokens.create_token(session, me, name=name.value or "token", role=role.value,
                                           expires_at=expires)[1]
            try:
                secret = await services.run_db(act)
            except TagpipeError as e:
                shown.text = str(e)
                return
            shown.text = f"Copy it now, it is not shown again: {secret}"
            await refresh()

        async def revoke(e: Any) -> None:
            await services.run_db(tokens.revoke_token, me, e.args["id"])
            await refresh()

        create.on_click(make)
        table.on("revoke", revoke)
        await refresh()


async def users_page(services: Services) -> None:
    me = current()
    assert me is not None
    columns = [{"name": c, "label": c.replace("_", " ").title(), "field": c, "align": "left"}
               for c in ("username", "role", "disabled", "created_at", "last_login_at", "actions")]
    with page(services, "Users"):
        message = ui.label("").classes("text-sm")
        table = ui.table(columns=columns, rows=[], row_key="id").classes("w-full").props("flat")
        role_select = '''<q-td :props="props">
            <q-select dense borderless :options="{}" :model-value="props.value"
                      @update:model-value="v => $parent.$emit('role', {{id: props.row.id, role: v}})" /></q-td>'''
        table.add_slot("body-cell-role", role_select.format(json.dumps(list(ROLES)).replace('"', "'")))
        table.add_slot("body-cell-actions", '''<q-td :props="props">
            <q-btn size="sm" dense flat :label="props.row.disabled ? 'unlock' : 'lock'"
                   @click="$parent.$emit('lock', props.row)" />
            <q-btn size="sm" dense flat label="new password" @click="$parent.$emit('password', props.row)" />
            <q-btn size="sm" dense flat color="red" label="delete" @click="$parent.$emit('delete', props.row)" />
            </q-td>''')

        async def refresh() -> None:
            table.rows = [{"id": u.id, "username": u.username, "role": u.role, "disabled": u.disabled,
                           "created_at": _when(u.created_at), "last_login_at": _when(u.last_login_at)}
                          for u in await services.run_db(users.list_users)]
            table.update()

        async def act(what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
            try:
                await services.run_db(fn, *args, **kwargs)
            except TagpipeError as e:
                message.text = str(e)
                message.classes(replace="text-sm text-negative")
            else:
                message.text = what
                message.classes(replace="text-sm text-positive")
            await refresh()

        async def ask_password(row: dict[str, Any]) -> None:
            with ui.dialog() as dialog, ui.card():
                ui.label(f"New password for {row['username']}")
                secret = ui.input("Password (8 characters or more)", password=True)

                async def save() -> None:
                    dialog.close()
                    await act(f"{row['username']}: new password set, sessions ended", users.update_user, row["id"],
                              password=secret.value or "")
                ui.button("Set", on_click=save)
            dialog.open()

        table.on("role", lambda e: act("role changed", users.update_user, e.args["id"], role=e.args["role"]))
        table.on("lock", lambda e: act(f"{e.args['username']} {'unlocked' if e.args['disabled'] else 'locked'}",
                                       users.update_user, e.args["id"], disabled=not e.args["disabled"]))
        table.on("password", lambda e: ask_password(e.args))
        table.on("delete", lambda e: act(f"{e.args['username']} deleted", users.delete_user, e.args["id"], me))

        with ui.expansion("Add user", icon="person_add").classes("w-full"), ui.row().classes("items-end gap-4"):
            username = ui.input("User name").props("data-testid=new-username")
            role = ui.select(list(ROLES), value="viewer", label="Role").props("data-testid=new-role")
            password = ui.input("Password (8 characters or more)", password=True).props("data-testid=new-password")

            async def add() -> None:
                await act(f"{username.value} added", users.create_user, username.value or "", role.value,
                          password.value or "")
                password.value = ""
            ui.button("Add user", on_click=add).props("data-testid=add-user")
        await refresh()
        await tokens_panel(services, everyone=True)


async def audit_page(services: Services, principal: str = "", action: str = "", since: str = "",
                     outcome: str = "") -> None:
    with page(services, "Audit"):
        with ui.row().classes("items-end gap-4"):
            who = ui.input("Who (contains)", value=principal).props("data-testid=filter-principal")
            what = ui.input("Action (contains)", value=action).props("data-testid=filter-action")
            start = ui.input("Since (ISO date or time, UTC)", value=since).classes("w-56")
            result = ui.select({"": "any outcome", "ok": "done", "refused": "refused"}, value=outcome or "",
                               label="Outcome").classes("w-40")
            apply = ui.button("Filter").props("data-testid=filter")
            export = ui.link("CSV", "/api/audit.csv").props("data-testid=csv")
        note = ui.label("").classes("text-sm text-negative")
        table = ui.table(columns=AUDIT_COLUMNS, rows=[], row_key="id", pagination=50).classes("w-full").props(
            "dense flat wrap-cells")
        table.add_slot("body-cell-detail", '<q-td :props="props" class="font-mono text-xs whitespace-pre-wrap" '
                                           'style="max-width: 40rem">{{ props.value }}</q-td>')

        async def refresh() -> None:
            try:
                when = dt.datetime.fromisoformat(start.value) if start.value else None
            except ValueError:
                note.text = "Since: expected an ISO date or time such as 2026-05-01 or 2026-05-01T08:00"
                return
            note.text = ""
            f = AuditFilter(principal=who.value or None, action=what.value or None, since=when,
                            outcome=result.value or None)
            found = await services.run_db(auditlog.entries, f, 1000)
            table.rows = [{"id": e.id, "at": _when(e.at), "principal": e.principal, "role": e.role,
                           "address": e.address, "action": e.action, "target": e.target, "status": e.status,
                           "detail": json.dumps(e.detail, ensure_ascii=False, sort_keys=True)} for e in found]
            table.update()
            query = {k: v for k, v in {"principal": who.value, "action": what.value, "since": start.value,
                                       "outcome": result.value}.items() if v}
            export.props(f'href="/api/audit.csv{"?" + urlencode(query) if query else ""}"')

        apply.on_click(refresh)
        await refresh()
        ui.timer(5.0, refresh)


PAGES = [
    Page(path="/login", handler=login_page, permission=PUBLIC),
    Page(path="/account", handler=account_page, permission="account.self"),
    Page(path="/admin/users", handler=users_page, permission="users.manage"),
    Page(path="/audit", handler=audit_page, permission="audit.review"),
]
