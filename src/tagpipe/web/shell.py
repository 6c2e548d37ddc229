"""The page shell every UI page uses: header with the features' navigation, content column."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from nicegui import ui

from tagpipe.feature import navigation
from tagpipe.services import Services


@contextlib.contextmanager
def page(services: Services, title: str) -> Iterator[None]:
    ui.page_title(f"{title} · tagpipe")
    with ui.header().classes("items-center bg-slate-800 px-4 py-2 gap-6"):
        ui.label("tagpipe").classes("text-lg font-bold text-white")
        for nav in navigation(services.features):
            ui.link(nav.label, nav.path).classes("text-white no-underline"
                                                 + (" font-bold underline" if nav.label == title else ""))
        ui.space()
        ui.link("API", "/docs").classes("text-slate-300")
    with ui.column().classes("w-full p-4 gap-4"):
        if services.health is not None:
            _health_banner(services)
        ui.label(title).classes("text-2xl font-semibold")
        yield


def _health_banner(services: Services) -> None:
    """A red banner while a component is down, read from the process's health snapshot (no query per tab)."""
    assert services.health is not None
    monitor = services.health
    banner = ui.label("").classes("w-full bg-red-700 text-white px-4 py-2 rounded").props('role="alert"')

    def refresh() -> None:
        problems = monitor.problems()
        text = ("Down: " + " · ".join(problems)) if problems else ""
        if text != banner.text:
            banner.set_text(text)
        banner.set_visibility(bool(text))

    refresh()
    ui.timer(2.0, refresh)


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
