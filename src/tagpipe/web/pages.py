"""Mount every feature's NiceGUI pages on the FastAPI app; each handler gets the services object first."""

from __future__ import annotations

import functools

from fastapi import FastAPI
from nicegui import ui

from tagpipe.services import Services


def mount(app: FastAPI, services: Services) -> None:
    for feature in services.features:
        for page in feature.pages() if feature.pages else ():
            # A partial hides ``services`` from NiceGUI, which reads the remaining parameters as query parameters.
            ui.page(page.path)(functools.partial(page.handler, services))
    ui.run_with(app, title="tagpipe", favicon="🏭", show_welcome_message=False, reconnect_timeout=10)
