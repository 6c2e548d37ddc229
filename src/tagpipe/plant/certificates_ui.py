"""The Certificates part of the Configuration page: the store's entries, upload, delete."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import PurePath
from typing import Any

from nicegui import events, ui

from tagpipe.errors import Conflict, InvalidInput, NotFound
from tagpipe.plant import certificates
from tagpipe.services import Services

COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("name", "Name"), ("kind", "Kind"), ("subject", "Subject"), ("not_after", "Expires"), ("source", "Source"),
    ("used_by", "Used by connections"), ("fingerprint", "SHA-256")]]


def suggested_name(filename: str) -> str:
    """A store name from an uploaded file's name: its stem with anything but letters, digits, '.', '_', '-' as '-'."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "-", PurePath(filename).stem).lstrip("._-")
    return stem[:64] or "certificate"


def rows(found: list[certificates.Entry]) -> list[dict[str, Any]]:
    return [{"id": e.id, "key": e.name, "name": e.name, "kind": e.kind.replace("_", " "), "subject": e.subject,
             "not_after": f"{e.not_after:%Y-%m-%d}" if e.not_after else "", "source": e.source,
             "used_by": ", ".join(map(str, e.used_by)), "fingerprint": e.fingerprint[:16] + "…"} for e in found]


def certificates_section(services: Services, changed: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """An expansion listing the store with upload and delete; returns its refresh (``changed`` runs after a change)."""
    with ui.expansion("Certificates and keys", icon="key").classes("w-full"):
        ui.label("Connections name a certificate or key kept here (OPC UA certificate, private_key, "
                 "server_certificate); no setting reads a file of the server. A private key is stored encrypted and "
                 "sent only to the edge that polls a connection naming it.").classes("text-xs text-gray-500")
        table = ui.table(columns=COLUMNS, rows=[], row_key="key", selection="single").classes("w-full")
        table.props('dense flat data-table="certificates"')
        with ui.row().classes("gap-4 items-center"):
            name = ui.input("Name (default: the file's name)").classes("w-64").props('data-field="certificate-name"')
            password = ui.input("Password of an encrypted key", password=True).classes("w-64")
            message = ui.label("").classes("text-negative text-sm")

        async def refresh() -> None:
            table.rows = rows(await services.run_db(certificates.entries))
            table.update()

        async def uploaded(e: events.UploadEventArguments) -> None:
            message.text = ""
            data = await e.file.read()
            chosen = (name.value or "").strip() or suggested_name(e.file.name)
            try:
                await services.run_db(certificates.upload, chosen, data, password.value or None)
            except (InvalidInput, Conflict) as err:
                message.text = str(err)
                return
            finally:
                upload.reset()
            name.value, password.value = "", ""
            ui.notify(f"{chosen} stored")
            await refresh()
            await changed()

        async def delete_selected() -> None:
            message.text = ""
            for row in table.selected:
                if row.get("id") is None:
                    message.text = f"{row['name']} is a file of the certificate directory: remove it there"
                    continue
                try:
                    await services.run_db(certificates.delete, row["id"])
                except (Conflict, NotFound) as err:
                    message.text = str(err)
                    continue
                ui.notify(f"{row['name']} deleted")
            table.selected = []
            await refresh()
            await changed()

        with ui.row().classes("gap-4 items-center"):
            upload = ui.upload(label="Upload a certificate or key (PEM or DER)", auto_upload=True,
                               max_file_size=certificates.MAX_BYTES, on_upload=uploaded).props(
                'accept=".pem,.crt,.cer,.der,.key" data-upload="certificate"')
            ui.button("Delete selected", icon="delete", on_click=delete_selected).props("flat color=negative")
    return refresh
