"""Dead letters page: what the workers could not store, counted per edge, each with its reason and payload."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from tagpipe import auth
from tagpipe.contracts import iso_timestamp
from tagpipe.db import dead_letters
from tagpipe.errors import TagpipeError
from tagpipe.feature import Page
from tagpipe.history import rejects
from tagpipe.services import Services
from tagpipe.web.shell import page

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


async def dead_letter_page(services: Services) -> None:
    """What the workers did not store: counts per edge, and each dead letter with its reason and payload."""
    with page(services, "Dead letters"):
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
            count_rows, rows, total = await services.run_db(_letters, offset)
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

        letters.on("rowClick", lambda e: letter_dialog(services, e.args[1]["id"], refresh))
        await refresh()
        ui.timer(5.0, refresh)


async def letter_dialog(services: Services, letter_id: int, changed: Any) -> None:
    """One dead letter: its reason and payload, with Republish (send it again) and Delete."""
    found = await services.run_db(rejects.letter, letter_id)
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
                await action(services, letter_id)
            except TagpipeError as e:
                answer.text = str(e)
                return
            ui.notify(done)
            dialog.close()
            await changed()

        with ui.row():
            if auth.allowed("history.configure"):  # an engineer may send it again or drop it; a viewer only looks
                ui.button("Republish", on_click=lambda: act(rejects.republish, "Published again"))
                ui.button("Delete", on_click=lambda: act(rejects.forget, "Deleted")).props("flat color=negative")
            ui.button("Close", on_click=dialog.close).props("flat")
    dialog.open()


PAGES = [Page(path="/dead-letters", handler=dead_letter_page, permission="history.read")]
