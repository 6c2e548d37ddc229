"""Dashboard (latest value of every tag, live), Trends (chart, table, CSV and raw CSV of any tags over a range) and Dead
letters (what the workers did not store, and why)."""

from __future__ import annotations

import time
from typing import Any

from nicegui import ui

from tagpipe import auth, plant
from tagpipe.contracts import iso_timestamp
from tagpipe.errors import TagpipeError
from tagpipe.feature import Page
from tagpipe.history import service
from tagpipe.history.api import parse_time
from tagpipe.history.live import feed_of
from tagpipe.history.storage_ui import storage_panel
from tagpipe.services import Services
from tagpipe.web.shell import fmt_age, fmt_value, page

RANGES = {"1 h": 3600, "1 d": 86400, "3 d": 3 * 86400, "7 d": 7 * 86400, "custom": None}
COLUMNS = [
    {"name": "name", "label": "Tag", "field": "name", "align": "left"},
    {"name": "value", "label": "Value", "field": "value", "align": "right"},
    {"name": "unit", "label": "Unit", "field": "unit", "align": "left"},
    {"name": "quality", "label": "Quality", "field": "quality", "align": "left"},
    {"name": "age", "label": "Age", "field": "age", "align": "right"},
    {"name": "write", "label": "", "field": "writable", "align": "right"},
]
WRITE_CELL = """<q-td :props="props"><q-btn v-if="props.row.writable" size="sm" dense flat icon="edit" label="write"
  :data-write="props.row.id" @click="$parent.$emit('write', props.row)" /></q-td>"""


def parse_input(text: str, data_type: str) -> object:
    """What the user typed, as the JSON value to write: a number when it reads as one, else the text."""
    if data_type == "STRING":
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


async def write_dialog(services: Services, row: dict) -> None:
    """Ask for a value and write it to the tag's PLC through its edge; show the value read back or the reason."""

    with ui.dialog() as dialog, ui.card().classes("min-w-[24rem]"):
        ui.label(f"Write {row['name']}").classes("text-lg")
        ui.label(f"now {row['value']} {row['unit']} · {row['data_type']}").classes("text-sm text-gray-500")
        if row["data_type"] == "BOOL":
            entry = ui.select({"true": "ON", "false": "OFF"}, value="true", label="Value")
        else:
            entry = ui.input("Value" + (f" ({row['unit']})" if row["unit"] else "")).props("autofocus")
        answer = ui.label("").classes("text-sm")

        async def send() -> None:
            answer.text = "Writing…"
            value = ((entry.value == "true") if row["data_type"] == "BOOL"
                     else parse_input(entry.value or "", row["data_type"]))
            try:
                done = await services.ports.commands.write_tag(row["id"], value)
            except TagpipeError as e:
                answer.text = str(e)
                answer.classes(replace="text-sm text-negative")
                return
            answer.text = f"Written; the PLC reads back {fmt_value(done.value)} {row['unit']}"
            answer.classes(replace="text-sm text-positive")

        with ui.row():
            ui.button("Write", on_click=send).props('data-action="write"')
            ui.button("Close", on_click=dialog.close).props("flat")
    dialog.open()


async def dashboard(services: Services) -> None:
    feed = feed_of(services)
    ui.context.client.on_delete(feed.unwatch)
    await feed.watch()
    can_write = auth.allowed("tags.write")
    with page(services, "Dashboard"):
        container = ui.column().classes("w-full gap-4")
        tables: dict[str, ui.table] = {}
        shown: list[object] = [None]

        def refresh() -> None:
            snap = feed.snapshot(lambda value, age: (fmt_value(value), fmt_age(age)))
            if snap.version == shown[0]:
                return
            shown[0] = snap.version
            if not snap.equipment and not tables:
                container.clear()
                with container:
                    ui.label("No tags yet: add equipment, a connection and tags under Configuration.").classes(
                        "text-gray-500")
                return
            for equipment, rows in snap.equipment.items():
                if equipment not in tables:
                    if not tables:
                        container.clear()
                    with container, ui.card().classes("w-full"):
                        ui.label(equipment).classes("text-lg font-medium")
                        table = ui.table(columns=COLUMNS if can_write else COLUMNS[:-1], rows=rows,
                                         row_key="id").classes("w-full")
                        table.props("dense flat")
                        table.props["data-equipment"] = equipment  # set, never parsed: names may hold any text
                        if can_write:  # no button, and no handler a forged event could reach
                            table.add_slot("body-cell-write", WRITE_CELL)
                            table.on("write", lambda e: write_dialog(services, e.args))
                        tables[equipment] = table
                else:
                    tables[equipment].rows = rows
                    tables[equipment].update()

        refresh()
        ui.timer(1.0, refresh)


async def trends(services: Services, tags: str = "", range: str = "1 h") -> None:
    with page(services, "Trends"):
        catalog = await services.run_db(plant.tag_values, services.ports.latest_values)
        options = {t.id: f"{t.equipment} / {t.name}" + (f" [{t.unit}]" if t.unit else "") for t in catalog}
        chosen = [int(x) for x in tags.split(",") if x.strip().isdigit() and int(x) in options]
        with ui.row().classes("items-end gap-4 w-full"):
            picker = (ui.select(options, multiple=True, value=chosen, label="Tags")
                      .classes("min-w-[24rem]").props("use-chips"))
            span = ui.toggle(list(RANGES), value=range if range in RANGES else "1 h")
            start_in = ui.input("Start (ISO)").props("dense").classes("w-56")
            end_in = ui.input("End (ISO)").props("dense").classes("w-56")
            download = ui.link("Download CSV", "#").classes("self-center")
            download_raw = ui.link("Raw CSV", "#").classes("self-center").tooltip("Every stored value of the range")
        chart = ui.echart({
            "tooltip": {"trigger": "axis"}, "legend": {"top": 0, "type": "scroll"}, "animation": False,
            "grid": {"top": 40, "bottom": 70, "left": 60, "right": 30},
            "xAxis": {"type": "time"}, "yAxis": {"type": "value", "scale": True},
            "dataZoom": [{"type": "inside"}, {"type": "slider"}], "series": [],
        }).classes("w-full h-96")
        table = ui.table(columns=[{"name": c, "label": c.title(), "field": c, "align": "left"}
                                  for c in ("tag", "timestamp", "avg", "min", "max", "count")],
                         rows=[], pagination=20).classes("w-full").props("dense flat")
        status = ui.label("").classes("text-sm text-gray-500")
        storage = ui.column().classes("w-full")

        def window() -> tuple[int, int]:
            now = int(time.time() * 1000)
            seconds = RANGES.get(span.value)
            if seconds is not None:
                return now - seconds * 1000, now
            end = parse_time("end", end_in.value or None, now, require_zone=False)
            return parse_time("start", start_in.value or None, end - 3_600_000, require_zone=False), end

        async def load() -> None:
            ids = list(picker.value or [])
            try:
                start, end = window()
            except Exception as e:  # noqa: BLE001 - show the bad field to the user
                status.text = str(e)
                return
            series, rows, names = [], [], []
            for index, tag_id in enumerate(ids):
                _, pts = await services.run_db(service.history, tag_id, start, end, 1000)
                name = options.get(tag_id, str(tag_id))
                names.append(name)
                series += _trend_series(name, PALETTE[index % len(PALETTE)], pts)
                rows += [{"tag": name, "timestamp": iso_timestamp(p.ts), "avg": round(p.avg, 6),
                          "min": p.min, "max": p.max, "count": p.count} for p in pts]
            chart.options["series"] = series
            chart.options["xAxis"].update(min=start, max=end)
            chart.update()
            table.rows = rows[-5000:]
            table.update()
            points = sum(len(s["data"]) for s in series if s["name"] in names)
            status.text = f"{points} points from {iso_timestamp(start)} to {iso_timestamp(end)}"
            query = f'tags={",".join(map(str, ids))}&start={start}&end={end}'
            download.props(f'href="/api/history.csv?{query}"')
            download_raw.props(f'href="/api/history/raw.csv?{query}"')
            await storage_panel(services, storage, ids, options)

        for element in (picker, span, start_in, end_in):
            element.on_value_change(load)
        await load()


PALETTE = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"]


def _trend_series(name: str, color: str, pts: list[Any]) -> list[dict[str, Any]]:
    """A tag's bucket averages as a line, with its minimum and maximum per bucket as faint lines around it."""
    line = {"type": "line", "showSymbol": False, "color": color}
    edge = {**line, "lineStyle": {"width": 1, "type": "dashed", "opacity": 0.5}}
    return [
        {**line, "name": name, "data": [[p.ts, round(p.avg, 6)] for p in pts]},
        {**edge, "name": f"{name} (min)", "data": [[p.ts, p.min] for p in pts]},
        {**edge, "name": f"{name} (max)", "data": [[p.ts, p.max] for p in pts]},
    ]


PAGES = [Page(path="/", handler=dashboard, permission="history.read"),
         Page(path="/trends", handler=trends, permission="history.read")]
