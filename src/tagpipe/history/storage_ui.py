"""The Trends page's Storage panel: how each chosen tag's values are stored, the error bound, and (for those who may
configure history) a dialog to change it."""

from __future__ import annotations

from nicegui import ui
from pydantic import ValidationError

from tagpipe import auth
from tagpipe.history.storage_api import StorageIn, get_storage, set_storage
from tagpipe.services import Services

MODES = {"lossless": "Every value", "deadband": "Deadband", "swinging-door": "Swinging door (PI compression)"}


async def storage_panel(services: Services, container: ui.element, ids: list[int], names: dict[int, str]) -> None:
    container.clear()
    if not ids:
        return
    can_edit = auth.allowed("history.configure")
    with container, ui.card().classes("w-full"):
        ui.label("Storage").classes("text-lg font-medium")
        for tag_id in ids:
            storage = await services.run_db(get_storage, tag_id)
            with ui.row().classes("items-center gap-2").props(f'data-storage="{tag_id}"'):
                ui.label(names.get(tag_id, str(tag_id))).classes("font-medium")
                ui.label(MODES[storage.mode] + (f" ±{storage.deviation:g}" if storage.mode != "lossless" else ""))
                ui.label(storage.bound).classes("text-sm text-gray-500").props('data-role="bound"')
                if can_edit:
                    ui.button("Change", on_click=lambda _, t=tag_id: _dialog(services, container, ids, names, t)) \
                        .props('flat dense data-action="storage"')


async def _dialog(services: Services, container: ui.element, ids: list[int], names: dict[int, str],
                  tag_id: int) -> None:
    current = await services.run_db(get_storage, tag_id)
    with ui.dialog() as dialog, ui.card().classes("min-w-[26rem]"):
        ui.label(f"Storage of {names.get(tag_id, tag_id)}").classes("text-lg")
        mode = ui.select(MODES, value=current.mode, label="Keep")
        deviation = ui.number("Deviation (in the tag's unit)", value=current.deviation, min=0)
        max_s = ui.number("Store at least every (s, 0: no limit)", value=current.max_s, min=0, step=1)
        answer = ui.label("").classes("text-sm")

        async def save() -> None:
            try:
                data = StorageIn(mode=mode.value, deviation=deviation.value or 0.0, max_s=int(max_s.value or 0))
            except (ValidationError, ValueError, TypeError) as e:
                answer.text = str(e).splitlines()[0 if not isinstance(e, ValidationError) else -1]
                answer.classes(replace="text-sm text-negative")
                return
            await services.run_db(set_storage, tag_id, data)
            await services.config_changed([], feature="history")
            dialog.close()
            await storage_panel(services, container, ids, names)

        with ui.row():
            ui.button("Save", on_click=save).props('data-action="save-storage"')
            ui.button("Close", on_click=dialog.close).props("flat")
    dialog.open()
