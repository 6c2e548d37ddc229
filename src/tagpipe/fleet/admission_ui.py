"""The Fleet page's admission panels: edges waiting for approval, provisioning keys, adding an edge or a collector
(credentials shown once), and what the bus refused, per edge. The actions exist only for fleet.manage."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nicegui import ui
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagpipe.auth import allowed, current, provisioning
from tagpipe.errors import TagpipeError
from tagpipe.fleet import admission, gate
from tagpipe.fleet.models import Edge
from tagpipe.services import Services

MANAGE = "fleet.manage"
REFUSAL_COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("edge_id", "Edge"), ("kind", "Refused"), ("detail", "What"), ("transport", "Over"), ("address", "From"),
    ("count", "Times"), ("last_at", "Last")]]
KEY_COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("id", "Id"), ("name", "Name"), ("prefix", "Key starts"), ("expires_at", "Expires"), ("uses", "Uses"),
    ("auto_approve", "Auto-approve"), ("state", "State")]]
PENDING_COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("id", "Edge"), ("name", "Name"), ("request_address", "Asked from"), ("requested_at", "Asked at")]]


def _when(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") + "Z" if value else ""


def refusal_rows(session: Session, edge_id: str | None = None) -> list[dict[str, Any]]:
    return [{"id": r.id, "edge_id": r.edge_id or "(anonymous)", "kind": r.kind, "detail": r.detail,
             "transport": r.transport, "address": r.address, "count": r.count, "last_at": _when(r.last_at)}
            for r in admission.refusals(session, edge_id, 100)]


def _pending(session: Session) -> list[dict[str, Any]]:
    return [{"id": e.id, "name": e.name, "request_address": e.request_address or "", "requested_at":
             _when(e.requested_at)} for e in session.scalars(select(Edge).where(Edge.admission == "pending"))]


def _keys(session: Session) -> list[dict[str, Any]]:
    return [{"id": k.id, "name": k.name, "prefix": k.prefix, "expires_at": _when(k.expires_at),
             "uses": f"{k.uses} / {k.max_uses}", "auto_approve": "yes" if k.auto_approve else "",
             "state": provisioning.state(k)} for k in provisioning.list_keys(session)]


def _once(title: str, secret: str, hint: str) -> None:
    with ui.dialog() as dialog, ui.card():
        ui.label(title).classes("font-medium")
        ui.label(hint).classes("text-sm")
        ui.label(secret).classes("font-mono text-sm break-all").props("data-testid=shown-once")
        ui.button("Close", on_click=dialog.close)
    dialog.open()


def refusals_panel(services: Services, edge_id: str | None = None) -> None:
    """What nats-server refused (log ins, subjects), newest first, refreshed every few seconds."""
    ui.label("Refused on the bus").classes("text-lg")
    table = ui.table(columns=REFUSAL_COLUMNS, rows=[], row_key="id").classes("w-full").props(
        "dense flat data-table=refusals")

    async def refresh() -> None:
        table.rows = await services.run_db(refusal_rows, edge_id)
        table.update()

    ui.timer(3.0, refresh)
    ui.timer(0.1, refresh, once=True)


def admission_panels(services: Services) -> None:
    """Pending edges, provisioning keys and adding an edge, for those who may manage the fleet."""
    if not allowed(MANAGE):
        return
    me = current()
    by = me.label if me else "ui"
    with ui.card().classes("w-full"):
        ui.label("Waiting for approval").classes("text-lg")
        pending = ui.table(columns=PENDING_COLUMNS, rows=[], row_key="id").classes("w-full").props(
            "dense flat data-table=pending")
        pending.add_slot("body-cell-id", '''<q-td :props="props">{{ props.value }}
            <q-btn size="sm" dense flat color="green" label="approve" @click="$parent.$emit('approve', props.row)" />
            <q-btn size="sm" dense flat color="red" label="refuse" @click="$parent.$emit('refuse', props.row)" />
            </q-td>''')

    with ui.card().classes("w-full"):
        ui.label("Provisioning keys").classes("text-lg")
        ui.label("Start an edge with tagpipe edge --provisioning-key KEY; it waits here until approved.").classes(
            "text-sm text-gray-600")
        keys = ui.table(columns=KEY_COLUMNS, rows=[], row_key="id").classes("w-full").props("dense flat")
        keys.add_slot("body-cell-state", '''<q-td :props="props">{{ props.value }}
            <q-btn v-if="props.value == 'usable'" size="sm" dense flat color="red" label="revoke"
                   @click="$parent.$emit('revoke_key', props.row)" /></q-td>''')
        with ui.row().classes("items-end gap-4"):
            name = ui.input("Name", placeholder="line 3 gateways")
            days = ui.number("Valid for days", value=7, min=1, max=366).classes("w-32")
            uses = ui.number("Uses", value=1, min=1, max=100_000).classes("w-24")
            auto = ui.checkbox("Approve at once")
            create = ui.button("Create key").props("data-testid=create-key")

    with ui.card().classes("w-full"):
        ui.label("Add an edge or a collector").classes("text-lg")
        ui.label("A collector is a third-party MQTT publisher of the seed's topics: user = its id.").classes(
            "text-sm text-gray-600")
        with ui.row().classes("items-end gap-4"):
            new_id = ui.input("Id", placeholder="line3-collector")
            kind = ui.select(["collector", "agent"], value="collector", label="Kind")
            add = ui.button("Add").props("data-testid=add-edge")

    async def refresh() -> None:
        pending.rows = await services.run_db(_pending)
        keys.rows = await services.run_db(_keys)
        pending.update()
        keys.update()

    async def act(fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            result = await services.run_db(fn, *args, **kw)
        except (TagpipeError, ValueError) as e:
            ui.notify(str(e), type="negative")
            return None
        await refresh()
        return result

    async def make_key() -> None:
        def create_key(session: Session) -> str:
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=float(days.value or 7))
            _, secret = provisioning.create_key(session, name=name.value or "key", expires_at=expires,
                                                max_uses=int(uses.value or 1), auto_approve=bool(auto.value),
                                                created_by=by)
            session.commit()
            return secret

        secret = await act(create_key)
        if secret:
            _once("Provisioning key", secret, "Copy it now, it is not shown again.")

    async def add_edge() -> None:
        issued = await act(admission.add, (new_id.value or "").strip(), kind=kind.value, by=by)
        if issued:
            _once(f"Credentials of {issued.edge_id}", issued.token,
                  f"NATS and MQTT user {issued.edge_id}, this password (and HTTP token). Not shown again.")

    async def approve(e: Any) -> None:
        await act(admission.approve, e.args["id"], by=by)

    async def refuse(e: Any) -> None:
        await act(admission.revoke, e.args["id"], by=by)
        gate.wake(services)

    async def revoke_key(e: Any) -> None:
        def revoke(session: Session) -> None:
            provisioning.revoke_key(session, e.args["id"])
            session.commit()

        await act(revoke)

    create.on_click(make_key)
    add.on_click(add_edge)
    pending.on("approve", approve)
    pending.on("refuse", refuse)
    keys.on("revoke_key", revoke_key)
    ui.timer(3.0, refresh)
    ui.timer(0.1, refresh, once=True)


def edge_actions(services: Services, edge_id: str) -> None:
    """Rotate or revoke one edge's credentials (its detail page)."""
    if not allowed(MANAGE):
        return
    me = current()
    by = me.label if me else "ui"

    async def rotate() -> None:
        try:
            issued = await services.run_db(admission.rotate, edge_id, by=by)
        except TagpipeError as e:
            ui.notify(str(e), type="negative")
            return
        gate.wake(services)
        _once(f"New credentials of {edge_id}", issued.token, "An agent collects them itself; a collector needs "
              "this password. The old ones are off the bus within seconds.")

    async def revoke() -> None:
        try:
            await services.run_db(admission.revoke, edge_id, by=by)
        except TagpipeError as e:
            ui.notify(str(e), type="negative")
            return
        gate.wake(services)
        ui.notify(f"{edge_id} revoked: off the bus within seconds")

    with ui.row():
        ui.button("Rotate credentials", on_click=rotate).props("outline")
        ui.button("Revoke", on_click=revoke, color="red").props("outline")
