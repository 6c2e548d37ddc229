"""Admin → Storage: disk usage per table, the space left and when it runs out, and the retention settings."""

from __future__ import annotations

import re
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session

from tagpipe import auth, plant
from tagpipe.errors import InvalidInput, TagpipeError
from tagpipe.feature import Page
from tagpipe.history import retention
from tagpipe.history.policy import DEFAULT, MAX_RAW_DAYS, MAX_ROLLUP_MONTHS, Policy
from tagpipe.history.retention_api import StorageOut, overview, storage
from tagpipe.services import Services
from tagpipe.web.shell import page

TABLE_COLUMNS = [{"name": "name", "label": "Table", "field": "name", "align": "left"},
                 {"name": "size", "label": "Size", "field": "size", "align": "right"},
                 {"name": "bytes", "label": "Bytes", "field": "bytes", "align": "right"}]
OVERRIDE_COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("scope", "Scope"), ("name", "Name"), ("raw", "Raw values"), ("minutes", "1-minute rollups")]]
_WHOLE = re.compile(r"[0-9]{1,7}")


def size(n: float | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def number(field: str, text: str | None, top: int) -> int | None:
    """A retention field as typed: empty or 0 keeps forever, else a whole number up to ``top``."""
    text = (text or "").strip()
    if not text:
        return None
    if not _WHOLE.fullmatch(text) or int(text) > top:
        raise InvalidInput(field, f"a whole number from 0 to {top} (0 or empty: forever)", text)
    return int(text) or None


def entered(days: str | None, months: str | None) -> Policy:
    return Policy(raw_days=number("raw_days", days, MAX_RAW_DAYS),
                  rollup_1m_months=number("rollup_1m_months", months, MAX_ROLLUP_MONTHS))


def kept(value: int | None, unit: str) -> str:
    return "forever" if value is None else f"{value} {unit}"


def summary(s: StorageOut) -> list[str]:
    disk = (f"Disk at {s.path}: {size(s.disk_free_bytes)} free of {size(s.disk_total_bytes)}" if s.path
            else "The database server's disk is not visible to tagpipe")
    growth = ("Growth: measuring (an hour of measurements is needed)" if s.growth_bytes_per_day is None else
              f"Growth: {size(s.growth_bytes_per_day)} per day (over the last {s.growth_measured_hours:.1f} h)")
    full = ("Days until full: —" if s.days_until_full is None else f"Days until full: {s.days_until_full:,.0f}")
    return [f"Database ({s.backend}): {size(s.database_bytes)}, of which {size(s.reusable_bytes)} free for reuse",
            disk, growth, full]


def _targets(session: Session) -> dict[str, dict[int, str]]:
    return {"equipment": {e["id"]: e["name"] for e in plant.equipment_tree(session)},
            "tag": {t["id"]: f"{t['name']} ({t['equipment']})" for t in plant.tag_catalog(session)}}


async def storage_page(services: Services) -> None:
    """Disk usage and, below, how long data is kept (changed by those who may configure history)."""
    may_change = auth.allowed("history.configure")
    with page(services, "Storage"):
        ui.label("Disk").classes("text-lg font-medium")
        lines = ui.column().classes("gap-1").props("data-testid=disk-summary")
        tables = ui.table(columns=TABLE_COLUMNS, rows=[], row_key="name").classes("w-[40rem]").props(
            'dense flat data-table="table-sizes"')

        async def refresh_disk() -> None:
            figures = await services.run_db(storage)
            lines.clear()
            with lines:
                for line in summary(figures):
                    ui.label(line)
            tables.rows = [{"name": t.name, "size": size(t.bytes), "bytes": t.bytes} for t in figures.tables]
            tables.update()

        ui.label("Retention settings").classes("text-lg font-medium mt-4")
        ui.label(f"Raw values and 1-minute rollups older than this are deleted in the background; 1-hour rollups "
                 f"are kept forever. A tag's own setting beats its equipment's, which beats the default. Empty or 0: "
                 f"forever. Built-in default: raw {DEFAULT.raw_days} days, 1-minute rollups "
                 f"{DEFAULT.rollup_1m_months} months.").classes("text-sm text-gray-500")
        with ui.row().classes("items-end gap-4"):
            raw_in = ui.input("Raw values (days)").props("data-testid=default-raw")
            minutes_in = ui.input("1-minute rollups (months)").props("data-testid=default-minutes")
            ui.label("1-hour rollups: forever").classes("text-sm")
            save_default = ui.button("Save default", on_click=lambda: change(
                retention.set_policy, "default", 0, raw_in.value, minutes_in.value))
        note = ui.label("").classes("text-sm").props("data-testid=retention-note")
        overrides = ui.table(columns=OVERRIDE_COLUMNS, rows=[], row_key="key").classes("w-[40rem]").props(
            'dense flat data-table="retention-overrides"')
        targets = await services.run_db(_targets)
        with ui.row().classes("items-end gap-4"):
            scope_in = ui.select({"equipment": "Equipment", "tag": "Tag"}, value="equipment", label="Override for")
            target_in = ui.select(targets["equipment"], label="Which", with_input=True).classes("w-64")
            scope_in.on_value_change(lambda e: target_in.set_options(targets[e.value]))
            o_raw = ui.input("Raw values (days)")
            o_minutes = ui.input("1-minute rollups (months)")
            add = ui.button("Save override", on_click=lambda: change(
                retention.set_policy, scope_in.value, target_in.value, o_raw.value, o_minutes.value))
        for control in (raw_in, minutes_in, save_default, scope_in, target_in, o_raw, o_minutes, add):
            control.set_enabled(may_change)

        async def refresh_policies() -> None:
            found = await services.run_db(overview)
            raw_in.value = "" if found.default.raw_days is None else str(found.default.raw_days)
            minutes_in.value = "" if found.default.rollup_1m_months is None else str(found.default.rollup_1m_months)
            overrides.rows = [{"key": f"{scope}/{o.id}", "scope": scope, "id": o.id, "name": o.name,
                               "raw": kept(o.raw_days, "days"), "minutes": kept(o.rollup_1m_months, "months")}
                              for scope, items in (("equipment", found.equipment), ("tag", found.tags))
                              for o in items]
            overrides.update()

        async def change(action: Any, scope: str, scope_id: Any, days: str | None, months: str | None) -> None:
            try:
                if scope_id is None:
                    raise InvalidInput("scope_id", f"an {scope} to override")
                await services.run_db(action, scope, int(scope_id), entered(days, months))
            except TagpipeError as e:
                note.text = str(e)
                note.classes(replace="text-sm text-negative")
                return
            note.text = "Saved: it applies from the next retention step on."
            note.classes(replace="text-sm text-positive")
            await refresh_policies()

        async def drop(e: Any) -> None:
            row = e.args[1]
            if not may_change:
                return
            with ui.dialog() as dialog, ui.card():
                ui.label(f"Drop the retention override of {row['scope']} {row['name']}?")
                with ui.row():
                    async def confirm() -> None:
                        dialog.close()
                        await services.run_db(retention.clear_policy, row["scope"], row["id"])
                        await refresh_policies()

                    ui.button("Drop", on_click=confirm).props("color=negative")
                    ui.button("Cancel", on_click=dialog.close).props("flat")
            dialog.open()

        overrides.on("rowClick", drop)
        await refresh_policies()
        await refresh_disk()
        ui.timer(30.0, refresh_disk)


PAGES = [Page(path="/admin/storage", handler=storage_page, permission="history.read")]
