"""Fleet page (every edge: status, heartbeat, resources, versions, outbox) and an edge's detail with metric charts."""

from __future__ import annotations

import time

from nicegui import ui

from tagpipe import plant
from tagpipe.feature import Page
from tagpipe.fleet import service
from tagpipe.fleet.admission_ui import admission_panels, edge_actions, refusals_panel
from tagpipe.services import Services
from tagpipe.web.shell import fmt_value, page

COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("id", "Edge"), ("status", "Status"), ("admission", "Admission"), ("devices", "Devices"),
    ("last_heartbeat", "Last heartbeat"), ("cpu", "CPU %"), ("memory", "Memory %"), ("disk", "Disk %"),
    ("agent_version", "Agent"), ("config_version", "Config"), ("outbox", "Outbox")]]
DEVICE_COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("device", "Device"), ("protocol", "Protocol"), ("status", "Status"), ("reads", "Reads"), ("errors", "Errors"),
    ("mean_read_ms", "Mean read (ms)"), ("bad_tags", "Bad tags"), ("last_error", "Last error")]]
FAILING = ("unreachable", "error", "partial")


def devices_summary(devices: dict | None) -> str:
    """'3 ok · 1 failing' from the heartbeat's per-device counters."""
    states = [d.get("status") for d in (devices or {}).values()]
    if not states:
        return "—"
    ok, failing = states.count("ok"), sum(s in FAILING for s in states)
    other = len(states) - ok - failing
    return f"{ok} ok · {failing} failing" + (f" · {other} starting" if other else "")


def _rows(session) -> list[dict]:  # type: ignore[no-untyped-def]
    return [{"id": e.id, "status": e.status, "admission": e.admission or "no credentials",
             "devices": devices_summary(e.devices) if e.status == "online" else "—",
             "failing": any(d.get("status") in FAILING for d in (e.devices or {}).values()),
             "last_heartbeat": e.last_heartbeat.isoformat(timespec="seconds") + "Z"
             if e.last_heartbeat else "never", "cpu": fmt_value(e.cpu_percent), "memory": fmt_value(e.memory_percent),
             "disk": fmt_value(e.disk_percent), "agent_version": e.agent_version or "—",
             "config_version": (e.config_version or "—")[:10],
             "outbox": e.outbox_depth if e.outbox_depth is not None else "—"}
            for e in service.list_edges(session)]


def device_rows(session, edge_id: str, devices: dict | None) -> list[dict]:  # type: ignore[no-untyped-def]
    """One row per device of the edge's heartbeat, named from the plant configuration where it is known."""
    known = {d.id: d for d in plant.devices_for_edge(session, edge_id)}
    rows = []
    for device_id, d in sorted((devices or {}).items(), key=lambda kv: kv[0]):
        conf = known.get(device_id)
        reads, errors = d.get("reads") or 0, d.get("errors") or 0
        rows.append({"id": device_id, "device": f"{conf.name} (#{device_id})" if conf else f"#{device_id}",
                     "protocol": conf.protocol if conf else "—", "status": d.get("status") or "—",
                     "reads": reads, "errors": f"{errors} ({100 * errors / (reads + errors):.0f} %)" if errors else "0",
                     "mean_read_ms": fmt_value(d.get("mean_read_ms")), "bad_tags": d.get("bad_tags", "—"),
                     "last_error": d.get("last_error") or ""})
    return rows


async def fleet(services: Services) -> None:
    with page(services, "Fleet"):
        table = (ui.table(columns=COLUMNS, rows=await services.run_db(_rows), row_key="id")
                 .classes("w-full").props("flat"))
        table.add_slot("body-cell-id",
                       '<q-td :props="props"><a :href="\'/fleet/\' + props.value">{{ props.value }}</a></q-td>')
        table.add_slot("body-cell-status",
                       '<q-td :props="props"><q-badge :color="props.value == \'online\' ? \'green\' : \'grey\'">'
                       '{{ props.value }}</q-badge></q-td>')
        table.add_slot("body-cell-devices",
                       '<q-td :props="props" :class="props.row.failing ? \'text-negative\' : \'\'">'
                       '{{ props.value }}</q-td>')

        async def refresh() -> None:
            table.rows = await services.run_db(_rows)
            table.update()

        ui.timer(2.0, refresh)
        admission_panels(services)
        refusals_panel(services)


async def edge_detail(services: Services, edge_id: str) -> None:
    with page(services, "Fleet"):
        ui.link("← all edges", "/fleet")
        header = ui.label(edge_id).classes("text-xl")
        facts = ui.label("").classes("text-sm text-gray-600")
        ui.label("Devices (counters since the agent started)").classes("text-lg")
        devices = ui.table(columns=DEVICE_COLUMNS, rows=[], row_key="id").classes("w-full").props("dense flat")
        devices.add_slot("body-cell-status", '''<q-td :props="props"><q-badge :color="{ok: 'green', partial: 'orange',
            unreachable: 'red', error: 'red'}[props.value] || 'grey'">{{ props.value }}</q-badge></q-td>''')
        devices.add_slot("body-cell-last_error",
                         '<q-td :props="props" class="whitespace-normal text-negative">{{ props.value }}</q-td>')
        charts = {key: ui.echart({"title": {"text": title, "textStyle": {"fontSize": 13}},
                                  "tooltip": {"trigger": "axis"},
                                  "xAxis": {"type": "time"}, "yAxis": {"type": "value"}, "animation": False,
                                  "series": [{"type": "line", "showSymbol": False, "data": []}]}).classes("w-full h-56")
                  for key, title in [("cpu_percent", "CPU %"), ("memory_percent", "Memory %"),
                                     ("disk_percent", "Disk %"), ("outbox_depth", "Outbox depth")]}

        async def refresh() -> None:
            try:
                edge = await services.run_db(service.get_edge, edge_id)
            except Exception:  # noqa: BLE001 - an edge that never sent a heartbeat
                facts.text = "This edge has not sent a heartbeat yet."
                return
            header.text = f"{edge.id} — {edge.status}"
            facts.text = (f"last heartbeat {edge.last_heartbeat}Z · ip {edge.ip_address} · "
                          f"agent {edge.agent_version} · config {edge.config_version} · "
                          f"outbox {edge.outbox_depth} (dropped {edge.outbox_dropped})")
            devices.rows = await services.run_db(device_rows, edge_id, edge.devices)
            devices.update()
            metrics = await services.run_db(service.metric_history, edge_id, int((time.time() - 86400) * 1000))
            for key, chart in charts.items():
                chart.options["series"][0]["data"] = [[m.ts, getattr(m, key)] for m in metrics]
                chart.update()

        await refresh()
        ui.timer(5.0, refresh)
        edge_actions(services, edge_id)
        refusals_panel(services, edge_id)


PAGES = [Page(path="/fleet", handler=fleet, permission="fleet.read"),
         Page(path="/fleet/{edge_id}", handler=edge_detail, permission="fleet.read")]
