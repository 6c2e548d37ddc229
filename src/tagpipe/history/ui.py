"""Dashboard (latest value of every tag, live), Trends (chart, table and CSV of any tags over a range) and Dead
letters (what the workers did not store, and why)."""

from __future__ import annotations

import time
from itertools import groupby
from typing import Any

from nicegui import ui

from tagpipe.contracts import iso_timestamp
from tagpipe.db import dead_letters
from tagpipe.history import rejects, service
from tagpipe.history.api import parse_time, tag_values
from tagpipe.web.context import run_db
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


async def write_dialog(row: dict) -> None:
    """Ask for a value and write it to the tag's PLC through its edge; show the value read back or the reason."""
    from tagpipe.errors import TagpipeError
    from tagpipe.fleet import write_tag

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
            value = (entry.value == "true") if row["data_type"] == "BOOL" else parse_input(entry.value or "", row["data_type"])
            try:
                done = await write_tag(row["id"], value)
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


@ui.page("/")
async def dashboard() -> None:
    with page("Dashboard"):
        container = ui.column().classes("w-full gap-4")
        tables: dict[str, ui.table] = {}

        async def refresh() -> None:
            values = await run_db(tag_values)
            if not values and not tables:
                container.clear()
                with container:
                    ui.label("No tags yet: add equipment, a connection and tags under Configuration.").classes("text-gray-500")
                return
            for equipment, items in groupby(sorted(values, key=lambda t: (t.equipment, t.id)), key=lambda t: t.equipment):
                rows = [{"id": t.id, "name": t.name, "value": fmt_value(t.value), "unit": t.unit,
                         "quality": t.quality or "—", "age": fmt_age(t.age_s), "writable": t.writable,
                         "data_type": t.data_type} for t in items]
                if equipment not in tables:
                    if not tables:
                        container.clear()
                    with container, ui.card().classes("w-full"):
                        ui.label(equipment).classes("text-lg font-medium")
                        tables[equipment] = ui.table(columns=COLUMNS, rows=rows, row_key="id").classes("w-full")
                        tables[equipment].props(f'data-equipment="{equipment}" dense flat')
                        tables[equipment].add_slot("body-cell-write", WRITE_CELL)
                        tables[equipment].on("write", lambda e: write_dialog(e.args))
                else:
                    tables[equipment].rows = rows
                    tables[equipment].update()

        await refresh()
        ui.timer(1.0, refresh)


@ui.page("/trends")
async def trends(tags: str = "", range: str = "1 h") -> None:
    with page("Trends"):
        catalog = await run_db(tag_values)
        options = {t.id: f"{t.equipment} / {t.name}" + (f" [{t.unit}]" if t.unit else "") for t in catalog}
        chosen = [int(x) for x in tags.split(",") if x.strip().isdigit() and int(x) in options]
        with ui.row().classes("items-end gap-4 w-full"):
            picker = ui.select(options, multiple=True, value=chosen, label="Tags").classes("min-w-[24rem]").props("use-chips")
            span = ui.toggle(list(RANGES), value=range if range in RANGES else "1 h")
            start_in = ui.input("Start (ISO)").props("dense").classes("w-56")
            end_in = ui.input("End (ISO)").props("dense").classes("w-56")
            download = ui.link("Download CSV", "#").classes("self-center")
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

        def window() -> tuple[int, int]:
            now = int(time.time() * 1000)
            seconds = RANGES.get(span.value)
            if seconds is not None:
                return now - seconds * 1000, now
            end = parse_time("end", end_in.value or None, now)
            return parse_time("start", start_in.value or None, end - 3_600_000), end

        async def load() -> None:
            ids = list(picker.value or [])
            try:
                start, end = window()
            except Exception as e:  # noqa: BLE001 - show the bad field to the user
                status.text = str(e)
                return
            series, rows, names = [], [], []
            for index, tag_id in enumerate(ids):
                _, pts = await run_db(service.history, tag_id, start, end, 1000)
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
            download.props(f'href="/api/history.csv?tags={",".join(map(str, ids))}&start={start}&end={end}"')

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


LETTER_COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("id", "#"), ("received", "Received"), ("consumer", "Worker"), ("edge_id", "Edge"), ("reason", "Reason"),
    ("payload_size", "Bytes"), ("deliveries", "Deliveries")]]
COUNT_COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("consumer", "Worker"), ("edge_id", "Edge"), ("count", "Dead letters"), ("last", "Last"),
    ("last_reason", "Last reason")]]
PAGE_SIZE = 50


def _letters(session: Any, offset: int) -> tuple[list[dict], list[dict], int]:
    counts = [{"key": f"{c.consumer}/{c.edge_id}", "consumer": c.consumer, "edge_id": c.edge_id, "count": c.count,
               "last": iso_timestamp(c.last_ms), "last_reason": c.last_reason} for c in dead_letters.counts(session)]
    total, page_rows = dead_letters.page(session, offset=offset, limit=PAGE_SIZE)
    return counts, [rejects.out(r).model_dump() for r in page_rows], total


@ui.page("/dead-letters")
async def dead_letter_page() -> None:
    """What the workers did not store: counts per edge, and each dead letter with its reason and payload."""
    with page("Dead letters"):
        ui.label("Messages a worker could not store are kept here with the reason (the field and what was "
                 "expected); they are never redelivered.").classes("text-sm text-gray-500")
        counts = ui.table(columns=COUNT_COLUMNS, rows=[], row_key="key").classes("w-full").props("dense flat")
        letters = ui.table(columns=LETTER_COLUMNS, rows=[], row_key="id").classes("w-full").props("dense flat")
        letters.props('data-table="dead-letters"')
        with ui.row().classes("items-center gap-4"):
            older = ui.button("Older", on_click=lambda: move(PAGE_SIZE)).props("flat")
            newer = ui.button("Newer", on_click=lambda: move(-PAGE_SIZE)).props("flat")
            shown = ui.label("").classes("text-sm text-gray-500")
        offset = 0

        async def refresh() -> None:
            count_rows, rows, total = await run_db(_letters, offset)
            counts.rows, letters.rows = count_rows, rows
            counts.update()
            letters.update()
            shown.text = f"{offset + 1 if rows else 0}–{offset + len(rows)} of {total}"
            older.set_enabled(offset + PAGE_SIZE < total)
            newer.set_enabled(offset > 0)

        async def move(step: int) -> None:
            nonlocal offset
            offset = max(0, offset + step)
            await refresh()

        letters.on("rowClick", lambda e: letter_dialog(e.args[1]["id"], refresh))
        await refresh()
        ui.timer(5.0, refresh)


async def letter_dialog(letter_id: int, changed: Any) -> None:
    """One dead letter: its reason and payload, with Republish (send it again) and Delete."""
    from tagpipe.errors import TagpipeError

    found = await run_db(rejects.letter, letter_id)
    text = rejects.as_text(found.payload)
    with ui.dialog() as dialog, ui.card().classes("min-w-[40rem]"):
        ui.label(f"Dead letter #{found.id} · {found.subject}").classes("text-lg")
        ui.label(found.reason).classes("text-negative")
        ui.label(f"{found.payload_size} bytes, received {iso_timestamp(found.received_ms)}, "
                 f"delivered {found.deliveries}×").classes("text-sm text-gray-500")
        ui.code(text[:4000] if text is not None else f"(not UTF-8) {found.payload[:2000]!r}").classes("w-full")
        answer = ui.label("").classes("text-sm")

        async def act(action: Any, done: str) -> None:
            try:
                await action(letter_id)
            except TagpipeError as e:
                answer.text = str(e)
                return
            ui.notify(done)
            dialog.close()
            await changed()

        with ui.row():
            ui.button("Republish", on_click=lambda: act(rejects.republish, "Published again"))
            ui.button("Delete", on_click=lambda: act(rejects.forget, "Deleted")).props("flat color=negative")
            ui.button("Close", on_click=dialog.close).props("flat")
    dialog.open()
