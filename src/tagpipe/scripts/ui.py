"""Scripts page: list, editor with its Test panel, save, version history with diff and rollback, per-edge stats."""

from __future__ import annotations

import json
from typing import Any

from nicegui import ui

from tagpipe import plant
from tagpipe.errors import InvalidInput
from tagpipe.feature import Page
from tagpipe.sandbox import HOOK_TYPES
from tagpipe.scripts import dryrun, service, testinput
from tagpipe.scripts.schemas import DryRunIn, ScriptIn, ScriptOut, ScriptUpdate
from tagpipe.services import Services
from tagpipe.web.shell import page

SCOPES = {"global": "Global (every edge)", "equipment": "Equipment", "connection": "Connection",
          "device": "Device (edge)"}
LIST_COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("id", "#"), ("name", "Name"), ("hook_type", "Hook"), ("scope", "Scope"), ("priority", "Priority"),
    ("version", "Version"), ("enabled", "Enabled")]]
STAT_COLUMNS = [{"name": c, "label": c.replace("_", " ").title(), "field": c, "align": "left"}
                for c in ("edge_id", "edge_status", "runs", "errors", "timeouts", "last_error", "last_error_line")]
CSS = ".tp-error-line { background: #fee2e2 !important; } .nicegui-codemirror { border: 1px solid #ddd; }"


def _rows(session) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    keep = {"id", "name", "hook_type", "scope", "priority", "version"}
    return [{**ScriptOut.model_validate(s, from_attributes=True).model_dump(mode="json", include=keep),
             "enabled": "yes" if s.enabled else "no"} for s in service.list_scripts(session)]


def _targets(tree: list[dict]) -> tuple[dict[int, str], dict[int, str]]:
    equipment = {e["id"]: e["name"] for e in tree}
    connections = {c["id"]: f"{e['name']} / {c['name']} ({c['edge_id']})" for e in tree for c in e["connections"]}
    return equipment, connections


def _sandbox_note(services: Services) -> None:
    """Say where tests run, and warn when the sandbox could not be cut off from the network."""
    found = services.state.get(dryrun.POOL_KEY)
    report = found.isolation if found is not None else {}
    if report.get("no_network"):
        layers = [name for name, key in (("seccomp", "seccomp"), ("network namespace", "network_namespace"))
                  if report.get(key) == "on"]
        ui.label(f"Tests run in the server's sandbox, without network ({', '.join(layers)}).").classes(
            "text-xs text-gray-500").props("data-testid=sandbox-note")
    elif report:
        ui.label(f"Sandbox workers can open sockets: seccomp {report.get('seccomp')}, network namespace "
                 f"{report.get('network_namespace')}.").classes("text-xs text-orange-700").props(
            "data-testid=sandbox-note")


async def scripts_page(services: Services) -> None:
    ui.add_css(CSS)
    tree = await services.run_db(plant.equipment_tree)
    equipment, connections = _targets(tree)
    state: dict[str, Any] = {"id": None, "context": None}
    with page(services, "Scripts"), ui.row().classes("w-full gap-6 no-wrap items-start"):
        with ui.column().classes("w-1/3 gap-2"):
            ui.button("New", icon="add", on_click=lambda: new(hook.value or "transform")).props("data-testid=new")
            table = ui.table(columns=LIST_COLUMNS, rows=await services.run_db(_rows), row_key="id").classes("w-full")
            table.props("dense flat")
        with ui.column().classes("w-2/3 gap-2"):
            title = ui.label("New script").classes("text-lg font-medium")
            with ui.row().classes("w-full gap-2 items-end"):
                name = ui.input("Name", value="new script").classes("w-48")
                hook = ui.select({k: k for k in HOOK_TYPES}, value="transform", label="Hook type").classes("w-40")
                hook.props("data-testid=hook-type")
                scope = ui.select(SCOPES, value="global", label="Scope").classes("w-44")
                eq = ui.select(equipment, label="Equipment").classes("w-44")
                conn = ui.select(connections, label="Connection").classes("w-64")
                device = ui.input("Edge id").classes("w-32")
            with ui.row().classes("gap-2 items-center"):
                priority = ui.number("Priority", value=100, min=0, max=10_000, format="%d").classes("w-24")
                timeout = ui.number("Timeout ms", value=1000, min=1, max=60_000, format="%d").classes("w-28")
                enabled = ui.switch("Enabled", value=True)
            signature = ui.label("").classes("text-sm text-gray-600 font-mono")
            editor = ui.codemirror(HOOK_TYPES["transform"].example, language="Python").classes("w-full h-72")
            code_error = ui.label("").classes("text-red-700 font-mono").props("data-testid=code-error")
            with ui.row().classes("gap-2"):
                ui.button("Test", icon="play_arrow", on_click=lambda: test()).props("data-testid=test")
                ui.button("Save", icon="save", on_click=lambda: save()).props("color=green data-testid=save")
                disable_btn = ui.button("Disable", on_click=lambda: toggle()).props("flat")
                ui.button("Delete", icon="delete", on_click=lambda: delete()).props("flat color=red")
            with ui.card().classes("w-full"):
                ui.label("Test input (JSON: the hook's arguments but context)").classes("text-sm")
                test_json = ui.textarea().classes("w-full font-mono").props("rows=6 data-testid=test-input")
                outcome = ui.label("").classes("font-mono whitespace-pre-wrap").props("data-testid=test-result")
                prints = ui.label("").classes("font-mono text-gray-600 whitespace-pre-wrap")
                _sandbox_note(services)
            history = ui.expansion("Versions, diff and rollback").classes("w-full")
            stats = ui.table(columns=STAT_COLUMNS, rows=[], row_key="edge_id").classes("w-full").props("dense flat")

    def show_scope() -> None:
        eq.set_visibility(scope.value == "equipment")
        conn.set_visibility(scope.value == "connection")
        device.set_visibility(scope.value == "device")

    async def prefill() -> None:
        sample, state["context"] = await services.run_db(
            testinput.sample_input, services.ports.latest_values, hook.value, scope.value, equipment_id=eq.value,
            connection_id=conn.value, device_id=device.value or None)
        test_json.value = json.dumps(sample, indent=2, default=str)
        signature.text = HOOK_TYPES[hook.value].signature

    def mark(line: int | None, message: str) -> None:
        code_error.text = (f"line {line}: {message}" if line else message) if message else ""
        editor.decorations = [{"kind": "line", "line": line, "class": "tp-error-line"}] if line else []

    async def on_hook_change() -> None:
        if state["id"] is None:
            editor.value = HOOK_TYPES[hook.value].example
        await prefill()

    async def on_scope_change() -> None:
        show_scope()
        await prefill()

    hook.on_value_change(on_hook_change)
    scope.on_value_change(on_scope_change)
    for target in (eq, conn):
        target.on_value_change(prefill)

    async def new(hook_type: str) -> None:
        state["id"] = None
        title.text, name.value, enabled.value = "New script", "new script", True
        hook.value, scope.value, priority.value, timeout.value = hook_type, "global", 100, 1000
        editor.value = HOOK_TYPES[hook_type].example
        mark(None, "")
        history.clear()
        stats.rows = []
        show_scope()
        await prefill()

    async def open_script(script_id: int) -> None:
        s = ScriptOut.model_validate(await services.run_db(service.get_script, script_id), from_attributes=True)
        state["id"] = s.id
        title.text = f"#{s.id} {s.name} — v{s.version}"
        name.value, enabled.value, priority.value, timeout.value = s.name, s.enabled, s.priority, s.timeout_ms
        hook.value, scope.value, editor.value = s.hook_type, s.scope, s.code
        eq.value, conn.value, device.value = s.equipment_id, s.connection_id, s.device_id or ""
        disable_btn.text = "Disable" if s.enabled else "Enable"
        mark(None, "")
        show_scope()
        await prefill()
        await show_history()
        await show_stats()

    async def test() -> None:
        try:
            test_input = json.loads(test_json.value or "{}")
            body = DryRunIn(code=editor.value, hook_type=hook.value, test_input=test_input,
                            context=state["context"], timeout_ms=int(timeout.value or 1000))
        except (ValueError, TypeError) as e:
            outcome.text = f"test input is not valid: {e}"
            return
        r = await dryrun.dry_run(dryrun.pool(services), body)
        if r.ok:
            outcome.text = f"✔ result: {json.dumps(r.result, default=str)}   ({r.duration_ms:.2f} ms)"
            mark(None, "")
        else:
            outcome.text = f"✘ {'line ' + str(r.line) + ': ' if r.line else ''}{r.error}   ({r.duration_ms:.2f} ms)"
            mark(r.line, r.error or "")
        prints.text = f"printed:\n{r.prints}" if r.prints else ""

    def placement() -> dict[str, Any]:
        return {"name": name.value, "hook_type": hook.value, "scope": scope.value, "equipment_id": eq.value,
                "connection_id": conn.value, "device_id": device.value or None, "priority": int(priority.value or 0),
                "timeout_ms": int(timeout.value or 1000), "enabled": enabled.value, "code": editor.value}

    async def save() -> None:
        try:
            await dryrun.check_code(dryrun.pool(services), editor.value, hook.value)
            if state["id"] is None:
                script, edges = await services.run_db(service.create_script, ScriptIn(**placement()))
            else:
                script, edges = await services.run_db(service.update_script, state["id"], ScriptUpdate(**placement()))
        except dryrun.CodeRejected as e:
            mark(e.errors[0].line, e.errors[0].message)
            ui.notify(f"Not saved: {dryrun.describe(e.errors[0])}", type="negative")
            return
        except (InvalidInput, ValueError) as e:
            ui.notify(f"Not saved: {e}", type="negative")
            return
        await services.config_changed(edges, feature="scripts")
        ui.notify(f"Saved as version {script.version}; {len(edges)} edge(s) notified", type="positive")
        await refresh_list()
        await open_script(script.id)

    async def toggle() -> None:
        if state["id"] is not None:
            _, edges = await services.run_db(service.update_script, state["id"],
                                             ScriptUpdate(enabled=not enabled.value))
            await services.config_changed(edges, feature="scripts")
            await refresh_list()
            await open_script(state["id"])

    async def delete() -> None:
        if state["id"] is not None:
            await services.config_changed(await services.run_db(service.delete_script, state["id"]), feature="scripts")
            ui.notify("Deleted")
            await refresh_list()
            await new(hook.value)

    async def rollback(version: int) -> None:
        script, edges = await services.run_db(service.rollback, state["id"], version)
        await services.config_changed(edges, feature="scripts")
        ui.notify(f"Rolled back to v{version} as v{script.version}", type="positive")
        await refresh_list()
        await open_script(script.id)

    async def show_history() -> None:
        versions = await services.run_db(service.versions, state["id"])
        numbers = [v.version for v in versions]
        history.clear()
        with history:
            for v in reversed(versions):
                with ui.row().classes("items-center gap-2"):
                    ui.label(f"v{v.version} · {v.created_at:%Y-%m-%d %H:%M:%S} · {v.comment}").classes("text-sm")
                    ui.button("Roll back", on_click=lambda _, n=v.version: rollback(n)).props("dense flat size=sm")
            with ui.row().classes("items-end gap-2"):
                a = ui.select(numbers, value=numbers[max(0, len(numbers) - 2)], label="from").classes("w-20")
                b = ui.select(numbers, value=numbers[-1], label="to").classes("w-20")
                ui.button("Diff", on_click=lambda: show_diff(a.value, b.value)).props("dense")
            diff_view = ui.code("", language="diff").classes("w-full")

        async def show_diff(x: int, y: int) -> None:
            diff_view.content = await services.run_db(service.diff, state["id"], x, y) or "(no difference)"

        await show_diff(numbers[max(0, len(numbers) - 2)], numbers[-1])

    async def show_stats() -> None:
        if state["id"] is not None:
            stats.rows = [s.model_dump()
                          for s in await services.run_db(service.stats, services.ports.edge_states, state["id"])]

    async def refresh_list() -> None:
        table.rows = await services.run_db(_rows)

    table.on("rowClick", lambda e: open_script(e.args[1]["id"]))
    ui.timer(3.0, show_stats)
    show_scope()
    await prefill()


PAGES = [Page(path="/scripts", handler=scripts_page, permission="scripts.edit")]  # an editor: viewers use the API
