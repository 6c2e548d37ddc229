"""The page shell every UI page uses: header with the navigation the user may open and who they are, content."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from nicegui import ui

from tagpipe.auth.principal import current
from tagpipe.auth.roles import PUBLIC
from tagpipe.feature import navigation
from tagpipe.services import Services

# Log out ends the session with the CSRF token the page can read, then goes to the log in page.
LOGOUT_JS = """const csrf = (document.cookie.split('; ').find(c => c.startsWith('tagpipe_csrf=')) || '')
    .split('=')[1] || '';
await fetch('/api/auth/logout', {method: 'POST', headers: {'X-CSRF-Token': csrf}, credentials: 'same-origin'});
window.location.href = '/login';"""


@contextlib.contextmanager
def page(services: Services, title: str) -> Iterator[None]:
    ui.page_title(f"{title} · tagpipe")
    principal = current()
    needs = services.state.get("web.page_permissions", {})
    with ui.header().classes("items-center bg-slate-800 px-4 py-2 gap-6"):
        ui.label("tagpipe").classes("text-lg font-bold text-white")
        for nav in navigation(services.features):
            need = needs.get(nav.path)
            if need != PUBLIC and (principal is None or need is None or not principal.can(need)):
                continue
            ui.link(nav.label, nav.path).classes("text-white no-underline"
                                                 + (" font-bold underline" if nav.label == title else ""))
        ui.space()
        ui.link("API", "/docs").classes("text-slate-300")
        if principal is not None and principal.via != "off":
            ui.link(f"{principal.name} ({principal.role})", "/account").classes("text-slate-300").props(
                "data-testid=user")
            ui.button("Log out", on_click=lambda: ui.run_javascript(LOGOUT_JS)).props(
                "flat dense no-caps color=white data-testid=logout")
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
