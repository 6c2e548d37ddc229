"""Configuration page: equipment, connections (form generated from the protocol's settings) and tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from tagpipe import drivers
from tagpipe.auth import audit, current
from tagpipe.auth.redact import redact
from tagpipe.contracts.config import ByteOrder, DataType
from tagpipe.errors import Conflict, InvalidInput, NotFound
from tagpipe.feature import Page
from tagpipe.plant import certificates, probe, service
from tagpipe.plant.certificates_ui import certificates_section
from tagpipe.plant.schemas import (
    BrowseNode,
    ConnectionIn,
    ConnectionOut,
    ConnectionTestIn,
    ConnectionTestOut,
    EquipmentIn,
    TagIn,
    TagSpec,
)
from tagpipe.services import Services
from tagpipe.web.shell import fmt_value, page

TEST_NOTE = ("Test connection runs on the server: it proves the PLC answers the server, "
             "not the edge that will poll it.")
RESULT_COLUMNS = [{"name": c, "label": c.title(), "field": c, "align": "left"}
                  for c in ("tag", "value", "reason", "error")]


class Form:
    """Inputs keyed by field name; a failed save puts each message next to its field and saves nothing."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.inputs: dict[str, Any] = {}
        self.message = ui.label("").classes("text-negative text-sm")

    def add(self, name: str, element: Any) -> Any:
        self.inputs[name] = element
        element.props(f'data-field="{name}"')
        return element

    def values(self) -> dict[str, Any]:
        return {k: v.value for k, v in self.inputs.items()}

    def clear_errors(self) -> None:
        self.message.text = ""
        for el in self.inputs.values():
            if hasattr(el, "error"):
                el.error = None

    def show(self, exc: Exception) -> None:
        if isinstance(exc, ValidationError):
            for err in exc.errors():
                self._field_error(".".join(str(p) for p in err["loc"]), err["msg"])
        elif isinstance(exc, InvalidInput):
            self._field_error(exc.field, str(exc))
        else:
            self.message.text = str(exc)

    def _field_error(self, field: str, message: str) -> None:
        key = field.split(".")[-1] if field.startswith(("connection.", "settings.")) else field
        el = self.inputs.get(key) or self.inputs.get(f"settings.{key}")
        if el is not None and hasattr(el, "error"):
            el.error = message
        else:
            self.message.text = message if message.startswith(field) else f"{field}: {message}"

    async def submit(self, action) -> bool:  # type: ignore[no-untyped-def]
        self.clear_errors()
        try:
            edges = await action()
        except (ValidationError, InvalidInput, Conflict, NotFound) as e:
            self.show(e)
            return False
        await self.services.config_changed(edges or [])
        return True


async def audited(services: Services, action: str, target: str, settings: Mapping[str, Any]) -> None:
    """A connection the server makes from a page is audited like its POST: it reaches into the plant's network."""
    principal = current()
    await services.run_db(audit.record, principal=principal or "ui", action=f"ui: {action}", target=target,
                          address=principal.address if principal else "", detail={"settings": redact(dict(settings))})


def _number(v: Any) -> Any:
    try:
        return float(v) if v not in (None, "") else v
    except (TypeError, ValueError):
        return v


def settings_inputs(form: Form, protocol: str, box: ui.element, store: Mapping[str, list[str]] | None = None) -> None:
    """Inputs generated from the protocol's settings model (descriptions become hints); a field naming a certificate
    or key picks one of ``store``'s names of its kind."""
    box.clear()
    for key in [k for k in form.inputs if k.startswith("settings.")]:
        del form.inputs[key]
    schema = drivers.driver_class(protocol).settings_model.model_json_schema()
    with box:
        for name, prop in schema.get("properties", {}).items():
            label = prop.get("title", name)
            hint = prop.get("description", "")
            default = prop.get("default")
            kind = prop.get("type") or next((p.get("type") for p in prop.get("anyOf", []) if p.get("type") != "null"),
                                            "string")
            if "material" in prop:
                names = (store or {}).get(prop["material"], [])
                el = ui.select({None: "(none)", **{n: n for n in names}}, label=label, value=None).props(
                    f'hint="{hint}"')
            elif kind == "boolean":
                el = ui.checkbox(label, value=bool(default))
            elif "enum" in prop:
                el = ui.select(prop["enum"], label=label, value=default)
            elif kind in ("integer", "number"):
                el = ui.number(label, value=default).props(f'hint="{hint}"')
            else:
                el = (ui.input(label, value=default or "", password=prop.get("format") == "password")
                      .props(f'hint="{hint}"'))
            form.add(f"settings.{name}", el.classes("w-48"))


def parse_tag_lines(text: str) -> list[TagSpec]:
    """Tags typed one per line as ``name address [data_type] [scale]``; a bad line raises InvalidInput naming it."""
    specs = []
    for i, line in enumerate(ln for ln in (text or "").splitlines() if ln.strip()):
        parts = line.split()
        if len(parts) < 2:
            raise InvalidInput(f"tags.{i}", "name address [data_type] [scale]", line)
        fields: dict[str, Any] = {"name": parts[0], "address": parts[1]}
        if len(parts) > 2:
            fields["data_type"] = parts[2].upper()
        if len(parts) > 3:
            fields["scale"] = _number(parts[3])
        try:
            specs.append(TagSpec(**fields))
        except ValidationError as e:
            err = e.errors()[0]
            raise InvalidInput(f"tags.{i}.{err['loc'][0]}", err["msg"].lower(), line) from None
    return specs


def show_test_result(result: ConnectionTestOut, summary: ui.label, table: ui.table) -> None:
    """Put a Test connection answer on the page: a one-line verdict and a row per tag."""
    if result.ok:
        summary.text = f"Connected in {result.elapsed_ms:.0f} ms; every tag was read."
        summary.classes(replace="text-positive text-sm")
    else:
        summary.text = f"{result.reason}: {result.error}"
        summary.classes(replace="text-negative text-sm")
    table.rows = [{"tag": name, "value": fmt_value(v.value) if v.error is None else "—", "reason": v.reason or "ok",
                   "error": v.error or ""} for name, v in result.values.items()]
    table.update()


async def test_dialog(services: Services, host: ui.element, connection_id: int, name: str) -> None:
    """Test a stored connection with its stored tags and show the answer in a dialog."""
    with host, ui.dialog() as dialog, ui.card().classes("min-w-[40rem]"):
        ui.label(f"Test connection · {name}").classes("text-lg")
        ui.label(TEST_NOTE).classes("text-xs text-gray-500")
        summary = ui.label("Connecting…").classes("text-sm")
        table = ui.table(columns=RESULT_COLUMNS, rows=[]).classes("w-full").props("dense flat")
        ui.button("Close", on_click=dialog.close).props("flat")
    dialog.open()
    body = await services.run_db(service.connection_test_body, connection_id)
    await audited(services, "test connection", f"connections/{connection_id}", body.settings)
    try:
        material = await services.run_db(certificates.material, body.protocol, body.settings)
        result = await probe.try_connection(body, services.settings.device_networks, material)
    except InvalidInput as e:  # a stored setting the driver or the allowed networks refuse now
        summary.text = str(e)
        summary.classes(replace="text-negative text-sm")
        return
    show_test_result(result, summary, table)


async def browse_dialog(services: Services, host: ui.element, connection_id: int, name: str,  # type: ignore[no-untyped-def]
                        on_added) -> None:
    """Browse an OPC UA server from the server: open objects, tick variables, add them as tags of the connection.

    The dialog lives in ``host``, outside the listing that ``on_added`` re-renders.
    """
    path: list[tuple[str | None, str]] = [(None, "Objects")]
    nodes: dict[str, BrowseNode] = {}
    settings = await services.run_db(service.connection_settings, connection_id)
    with host, ui.dialog() as dialog, ui.card().classes("min-w-[48rem]"):
        ui.label(f"Browse · {name}").classes("text-lg")
        crumbs = ui.row().classes("items-center gap-1")
        status = ui.label("").classes("text-sm")
        columns = [{"name": c, "label": c.replace("_", " ").title(), "field": c, "align": "left"}
                   for c in ("display_name", "node_class", "data_type", "unit", "writable", "node_id")]
        table = ui.table(columns=columns, rows=[], row_key="node_id", selection="multiple",
                         pagination=15).classes("w-full").props("dense flat")
        table.add_slot("body-cell-display_name", '''
            <q-td :props="props">
              <a v-if="props.row.node_class == 'Object'" href="#" @click.prevent="$parent.$emit('open', props.row)">
                📁 {{ props.value }}</a>
              <span v-else>{{ props.value }}</span>
            </q-td>''')
        with ui.row():
            add = ui.button("Add selected variables as tags")
            ui.button("Close", on_click=dialog.close).props("flat")

    async def load() -> None:
        crumbs.clear()
        with crumbs:
            for i, (_node_id, label) in enumerate(path):
                ui.link(label, "#").on("click.prevent", lambda _, i=i: go_up(i))
                ui.label("/") if i < len(path) - 1 else None
        status.text = "Browsing…"
        await audited(services, "browse OPC UA", f"connections/{connection_id}", settings)
        try:
            material = await services.run_db(certificates.material, "opcua", settings)
            children = await probe.browse(settings, path[-1][0], services.settings.device_networks, material)
        except Exception as e:  # noqa: BLE001 - show the reason (unreachable, unknown node) in the dialog
            status.text = str(e)
            return
        nodes.clear()
        nodes.update({n.node_id: n for n in children})
        table.rows = [{**n.model_dump(mode="json"), "data_type": n.data_type.value if n.data_type else "",
                       "writable": "yes" if n.writable else ""} for n in children]
        table.selected = []
        table.update()
        status.text = f"{len(children)} nodes"

    async def go_up(i: int) -> None:
        del path[i + 1:]
        await load()

    async def open_node(e) -> None:  # type: ignore[no-untyped-def]
        path.append((e.args["node_id"], e.args["display_name"]))
        await load()

    async def add_selected() -> None:
        chosen = [nodes[r["node_id"]] for r in table.selected if r["node_id"] in nodes
                  and nodes[r["node_id"]].node_class == "Variable"]
        if not chosen:
            status.text = "Tick one or more variables first."
            return
        added, failed = [], []
        for node in chosen:
            spec = probe.tag_spec_from_node(node)
            try:
                _, edges = await services.run_db(service.create_tag,
                                                 TagIn(**spec.model_dump(), connection_id=connection_id))
                added.append(spec.name)
                await services.config_changed(edges)
            except (InvalidInput, Conflict, ValidationError) as e:
                failed.append(f"{spec.name}: {e}")
        status.text = f"Added {len(added)} tags" + (f"; not added: {'; '.join(failed)}" if failed else "")
        await on_added()

    table.on("open", open_node)
    add.on_click(add_selected)
    dialog.open()
    await load()


async def configuration(services: Services) -> None:
    with page(services, "Configuration"):
        listing = ui.column().classes("w-full")
        dialogs = ui.element("div")  # dialogs outlive a re-render of the listing
        store: dict[str, list[str]] = {}  # names of the certificate store by kind, for the connection form

        async def store_changed() -> None:
            store.clear()
            for entry in await services.run_db(certificates.entries):
                store.setdefault(entry.kind, []).append(entry.name)
            settings_inputs(c_form, protocol.value, settings_box, store)

        async def render() -> None:
            equipment = await services.run_db(service.list_equipment)
            conns = await services.run_db(service.list_connections)
            tags = await services.run_db(service.list_tags)
            listing.clear()
            with listing:
                for eq in equipment:
                    with ui.card().classes("w-full"):
                        ui.label(eq.name).classes("text-lg font-medium")
                        for c in [c for c in conns if c.equipment_id == eq.id]:
                            with ui.row().classes("items-center gap-2"):
                                ui.label(f"{c.name} · {c.protocol} · edge {c.edge_id} · every {c.interval_ms} ms · "
                                         f"{ConnectionOut.model_validate(c, from_attributes=True).settings}"
                                         ).classes("text-sm")
                                ui.button("Test connection", icon="network_check",
                                          on_click=lambda _, c=c: test_dialog(services, dialogs, c.id, c.name)).props(
                                    f'flat dense size=sm data-test="{c.id}"')
                                if drivers.ALIASES.get(c.protocol, c.protocol) == "opcua":
                                    ui.button("Browse", icon="account_tree", on_click=lambda _, c=c: browse_dialog(
                                        services, dialogs, c.id, c.name, render)).props(
                                        f'flat dense size=sm data-browse="{c.id}"')
                            rows = [{"id": t.id, "name": t.name, "address": t.address, "data_type": t.data_type,
                                     "scale": t.scale, "offset": t.offset, "unit": t.unit,
                                     "writable": "yes" if t.writable else ""}
                                    for t in tags if t.connection_id == c.id]
                            ui.table(columns=[{"name": k, "label": k, "field": k, "align": "left"}
                                              for k in ("name", "address", "data_type", "scale", "offset", "unit",
                                                        "writable")],
                                     rows=rows).classes("w-full").props("dense flat")
            eq_select.options = {e.id: e.name for e in equipment}
            eq_select.update()
            conn_select.options = {c.id: f"{c.name} ({c.protocol})" for c in conns}
            conn_select.update()

        with ui.expansion("Add equipment", icon="factory").classes("w-full"):
            eq_form = Form(services)
            eq_form.add("name", ui.input("Name"))
            eq_form.add("description", ui.input("Description"))

            async def add_equipment() -> None:
                async def act() -> list[str]:
                    await services.run_db(service.create_equipment, EquipmentIn(**eq_form.values()))
                    return []
                if await eq_form.submit(act):
                    ui.notify("Equipment added")
                    await render()

            ui.button("Add equipment", on_click=add_equipment)

        with ui.expansion("Add connection", icon="cable").classes("w-full"):
            c_form = Form(services)
            with ui.row().classes("gap-4 items-start"):
                eq_select = c_form.add("equipment_id", ui.select({}, label="Equipment").classes("w-48"))
                c_form.add("name", ui.input("Name"))
                c_form.add("edge_id", ui.input("Edge id", value="demo-edge"))
                protocol = c_form.add("protocol", ui.select(sorted(drivers.DRIVERS), label="Protocol",
                                                            value="modbus_tcp"))
                c_form.add("interval_ms", ui.number("Interval (ms)", value=1000))
            settings_box = ui.row().classes("gap-4 items-start")
            settings_inputs(c_form, protocol.value, settings_box, store)
            protocol.on_value_change(lambda e: settings_inputs(c_form, e.value, settings_box, store))

            c_form.add("tags", ui.textarea(
                "Tags to test (one per line: name address [data_type] [scale])",
                placeholder="temperature 40001 UINT16 0.1").classes("w-full").props("rows=3"))
            ui.label(TEST_NOTE).classes("text-xs text-gray-500")
            test_summary = ui.label("").classes("text-sm")
            test_table = ui.table(columns=RESULT_COLUMNS, rows=[]).classes("w-full").props("dense flat")

            def form_settings(v: dict[str, Any]) -> dict[str, Any]:
                return {k.split(".", 1)[1]: val for k, val in v.items()
                        if k.startswith("settings.") and val not in (None, "")}

            async def test_connection() -> None:
                v = c_form.values()
                c_form.clear_errors()
                test_summary.text = "Connecting…"
                try:
                    body = ConnectionTestIn(protocol=v["protocol"], settings=form_settings(v),
                                            tags=parse_tag_lines(v["tags"]))
                    await audited(services, "test connection", "connections/test", body.settings)
                    material = await services.run_db(certificates.material, body.protocol, body.settings)
                    result = await probe.try_connection(body, services.settings.device_networks, material)
                except (ValidationError, InvalidInput) as e:
                    test_summary.text = ""
                    c_form.show(e)
                    return
                show_test_result(result, test_summary, test_table)

            async def add_connection() -> None:
                v = c_form.values()
                settings = form_settings(v)

                async def act() -> list[str]:
                    body = ConnectionIn(equipment_id=v["equipment_id"] or 0, name=v["name"], edge_id=v["edge_id"],
                                        protocol=v["protocol"], interval_ms=int(v["interval_ms"] or 0),
                                        settings=settings)
                    conn = await services.run_db(service.create_connection, body, services.settings.device_networks)
                    return [conn.edge_id]
                if await c_form.submit(act):
                    ui.notify("Connection added")
                    await render()

            with ui.row():
                ui.button("Test connection", icon="network_check", on_click=test_connection).props("outline")
                ui.button("Add connection", on_click=add_connection)

        with ui.expansion("Add tag", icon="sell").classes("w-full"):
            t_form = Form(services)
            with ui.row().classes("gap-4 items-start"):
                conn_select = t_form.add("connection_id", ui.select({}, label="Connection").classes("w-56"))
                t_form.add("name", ui.input("Name"))
                t_form.add("address", ui.input("Address", placeholder="40001"))
                t_form.add("data_type", ui.select([d.value for d in DataType], label="Data type", value="UINT16"))
                t_form.add("byte_order", ui.select({None: "protocol default", **{b.value: b.value for b in ByteOrder}},
                                                   label="Byte order", value=None))
            with ui.row().classes("gap-4 items-start"):
                t_form.add("scale", ui.input("Scale", value="1"))
                t_form.add("offset", ui.input("Offset", value="0"))
                t_form.add("unit", ui.input("Unit"))
                t_form.add("writable", ui.checkbox("Writable"))

            async def add_tag() -> None:
                v = t_form.values()

                async def act() -> set[str]:
                    body = TagIn(**{**v, "connection_id": v["connection_id"] or 0, "scale": _number(v["scale"]),
                                    "offset": _number(v["offset"])})
                    _, edges = await services.run_db(service.create_tag, body)
                    return edges
                if await t_form.submit(act):
                    ui.notify("Tag added; the edge applies it within a second")
                    await render()

            ui.button("Add tag", on_click=add_tag)

        refresh_store = certificates_section(services, store_changed)
        await render()
        await refresh_store()
        await store_changed()


PAGES = [Page(path="/config", handler=configuration, permission="plant.configure")]
