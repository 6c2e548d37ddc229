"""Configuration page: equipment, connections (form generated from the protocol's settings) and tags."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from pydantic import ValidationError

from tagpipe import drivers
from tagpipe.contracts.config import ByteOrder, DataType
from tagpipe.errors import Conflict, InvalidInput, NotFound
from tagpipe.plant import service
from tagpipe.plant.schemas import ConnectionIn, EquipmentIn, TagIn
from tagpipe.web.context import current, run_db
from tagpipe.web.shell import page


class Form:
    """Inputs keyed by field name; a failed save puts each message next to its field and saves nothing."""

    def __init__(self) -> None:
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
        key = field.split(".")[-1] if field.startswith("connection.") or field.startswith("settings.") else field
        el = self.inputs.get(key) or self.inputs.get(f"settings.{key}")
        if el is not None and hasattr(el, "error"):
            el.error = message
        else:
            self.message.text = f"{field}: {message}"

    async def submit(self, action) -> bool:  # type: ignore[no-untyped-def]
        self.clear_errors()
        try:
            edges = await action()
        except (ValidationError, InvalidInput, Conflict, NotFound) as e:
            self.show(e)
            return False
        await current().config_changed(edges or [])
        return True


def _number(v: Any) -> Any:
    try:
        return float(v) if v not in (None, "") else v
    except (TypeError, ValueError):
        return v


def settings_inputs(form: Form, protocol: str, box: ui.element) -> None:
    """Inputs generated from the protocol's settings model (descriptions become hints)."""
    box.clear()
    for key in [k for k in form.inputs if k.startswith("settings.")]:
        del form.inputs[key]
    schema = drivers.driver_class(protocol).settings_model.model_json_schema()
    with box:
        for name, prop in schema.get("properties", {}).items():
            label = prop.get("title", name)
            hint = prop.get("description", "")
            default = prop.get("default")
            kind = prop.get("type") or next((p.get("type") for p in prop.get("anyOf", []) if p.get("type") != "null"), "string")
            if kind == "boolean":
                el = ui.checkbox(label, value=bool(default))
            elif "enum" in prop:
                el = ui.select(prop["enum"], label=label, value=default)
            elif kind in ("integer", "number"):
                el = ui.number(label, value=default).props(f'hint="{hint}"')
            else:
                el = ui.input(label, value=default or "").props(f'hint="{hint}"')
            form.add(f"settings.{name}", el.classes("w-48"))


@ui.page("/config")
async def configuration() -> None:
    with page("Configuration"):
        listing = ui.column().classes("w-full")

        async def render() -> None:
            equipment = await run_db(service.list_equipment)
            conns = await run_db(service.list_connections)
            tags = await run_db(service.list_tags)
            listing.clear()
            with listing:
                for eq in equipment:
                    with ui.card().classes("w-full"):
                        ui.label(eq.name).classes("text-lg font-medium")
                        for c in [c for c in conns if c.equipment_id == eq.id]:
                            ui.label(f"{c.name} · {c.protocol} · edge {c.edge_id} · every {c.interval_ms} ms · "
                                     f"{c.settings}").classes("text-sm")
                            rows = [{"id": t.id, "name": t.name, "address": t.address, "data_type": t.data_type,
                                     "scale": t.scale, "offset": t.offset, "unit": t.unit}
                                    for t in tags if t.connection_id == c.id]
                            ui.table(columns=[{"name": k, "label": k, "field": k, "align": "left"}
                                              for k in ("name", "address", "data_type", "scale", "offset", "unit")],
                                     rows=rows).classes("w-full").props("dense flat")
            eq_select.options = {e.id: e.name for e in equipment}
            eq_select.update()
            conn_select.options = {c.id: f"{c.name} ({c.protocol})" for c in conns}
            conn_select.update()

        with ui.expansion("Add equipment", icon="factory").classes("w-full"):
            eq_form = Form()
            eq_form.add("name", ui.input("Name"))
            eq_form.add("description", ui.input("Description"))

            async def add_equipment() -> None:
                async def act() -> list[str]:
                    await run_db(service.create_equipment, EquipmentIn(**eq_form.values()))
                    return []
                if await eq_form.submit(act):
                    ui.notify("Equipment added")
                    await render()

            ui.button("Add equipment", on_click=add_equipment)

        with ui.expansion("Add connection", icon="cable").classes("w-full"):
            c_form = Form()
            with ui.row().classes("gap-4 items-start"):
                eq_select = c_form.add("equipment_id", ui.select({}, label="Equipment").classes("w-48"))
                c_form.add("name", ui.input("Name"))
                c_form.add("edge_id", ui.input("Edge id", value="demo-edge"))
                protocol = c_form.add("protocol", ui.select(sorted(drivers.DRIVERS), label="Protocol", value="modbus_tcp"))
                c_form.add("interval_ms", ui.number("Interval (ms)", value=1000))
            settings_box = ui.row().classes("gap-4 items-start")
            settings_inputs(c_form, protocol.value, settings_box)
            protocol.on_value_change(lambda e: settings_inputs(c_form, e.value, settings_box))

            async def add_connection() -> None:
                v = c_form.values()
                settings = {k.split(".", 1)[1]: val for k, val in v.items()
                            if k.startswith("settings.") and val not in (None, "")}

                async def act() -> list[str]:
                    body = ConnectionIn(equipment_id=v["equipment_id"] or 0, name=v["name"], edge_id=v["edge_id"],
                                        protocol=v["protocol"], interval_ms=int(v["interval_ms"] or 0), settings=settings)
                    conn = await run_db(service.create_connection, body)
                    return [conn.edge_id]
                if await c_form.submit(act):
                    ui.notify("Connection added")
                    await render()

            ui.button("Add connection", on_click=add_connection)

        with ui.expansion("Add tag", icon="sell").classes("w-full"):
            t_form = Form()
            with ui.row().classes("gap-4 items-start"):
                conn_select = t_form.add("connection_id", ui.select({}, label="Connection").classes("w-56"))
                t_form.add("name", ui.input("Name"))
                t_form.add("address", ui.input("Address", placeholder="40001"))
                t_form.add("data_type", ui.select([d.value for d in DataType], label="Data type", value="UINT16"))
                t_form.add("byte_order", ui.select([b.value for b in ByteOrder], label="Byte order", value="BIG_ENDIAN"))
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
                    _, edges = await run_db(service.create_tag, body)
                    return edges
                if await t_form.submit(act):
                    ui.notify("Tag added; the edge applies it within a second")
                    await render()

            ui.button("Add tag", on_click=add_tag)

        await render()
