"""Mount every feature's NiceGUI pages on the FastAPI app, each behind log in and its permission; each handler gets
the services object first."""

from __future__ import annotations

from fastapi import FastAPI
from nicegui import ui

from tagpipe.auth.guard import page_guard
from tagpipe.auth.policy import policy
from tagpipe.services import Services


def mount(app: FastAPI, services: Services) -> None:
    pol = policy(services)
    permissions: dict[str, str | None] = {}
    for feature in services.features:
        for page in feature.pages() if feature.pages else ():
            pol.check_page(page.path, page.permission)
            permissions[page.path] = page.permission
            # The guard hides ``services`` from NiceGUI, which reads the remaining parameters as query parameters.
            ui.page(page.path)(page_guard(services, page))
    services.state["web.page_permissions"] = permissions  # the header shows only the pages one may open
    ui.run_with(app, title="tagpipe", favicon="🏭", show_welcome_message=False, reconnect_timeout=10)
