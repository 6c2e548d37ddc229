"""Mount the NiceGUI pages of every feature on the FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI
from nicegui import ui


def mount(app: FastAPI) -> None:
    from tagpipe.fleet import ui as fleet_ui  # noqa: F401 - registers Fleet
    from tagpipe.history import ui as history_ui  # noqa: F401 - registers Dashboard and Trends
    from tagpipe.plant import ui as plant_ui  # noqa: F401 - registers Configuration
    from tagpipe.scripts import ui as scripts_ui  # noqa: F401 - registers Scripts

    ui.run_with(app, title="tagpipe", favicon="🏭", show_welcome_message=False, reconnect_timeout=10)
