"""The page shell every UI page uses: header with navigation, content column."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from nicegui import ui

NAV = [("Dashboard", "/"), ("Trends", "/trends"), ("Fleet", "/fleet"), ("Scripts", "/scripts"), ("Configuration", "/config"),
       ("Dead letters", "/dead-letters")]


@contextlib.contextmanager
def page(title: str) -> Iterator[None]:
    ui.page_title(f"{title} · tagpipe")
    with ui.header().classes("items-center bg-slate-800 px-4 py-2 gap-6"):
        ui.label("tagpipe").classes("text-lg font-bold text-white")
        for name, href in NAV:
            ui.link(name, href).classes("text-white no-underline" + (" font-bold underline" if name == title else ""))
        ui.space()
        ui.link("API", "/docs").classes("text-slate-300")
    with ui.column().classes("w-full p-4 gap-4"):
        ui.label(title).classes("text-2xl font-semibold")
        yield


def fmt_value(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    return str(value)


def fmt_age(age_s: float | None) -> str:
    if age_s is None:
        return "never"
    if age_s < 60:
        return f"{age_s:.0f} s"
    if age_s < 3600:
        return f"{age_s / 60:.0f} min"
    return f"{age_s / 3600:.1f} h"
