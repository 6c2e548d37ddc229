"""Fleet page (every edge: status, heartbeat, resources, versions, outbox) and an edge's detail with metric charts."""

from __future__ import annotations

import time

from nicegui import ui

from tagpipe.fleet import service
from tagpipe.web.context import run_db
from tagpipe.web.shell import fmt_value, page

COLUMNS = [{"name": c, "label": label, "field": c, "align": "left"} for c, label in [
    ("id", "Edge"), ("status", "Status"), ("last_heartbeat", "Last heartbeat"), ("cpu", "CPU %"), ("memory", "Memory %"),
    ("disk", "Disk %"), ("agent_version", "Agent"), ("config_version", "Config"), ("outbox", "Outbox")]]


def _rows(session) -> list[dict]:  # type: ignore[no-untyped-def]
    return [{"id": e.id, "status": e.status, "last_heartbeat": e.last_heartbeat.isoformat(timespec="seconds") + "Z"
             if e.last_heartbeat else "never", "cpu": fmt_value(e.cpu_percent), "memory": fmt_value(e.memory_percent),
             "disk": fmt_value(e.disk_percent), "agent_version": e.agent_version or "—",
             "config_version": (e.config_version or "—")[:10], "outbox": e.outbox_depth if e.outbox_depth is not None else "—"}
            for e in service.list_edges(session)]


@ui.page("/fleet")
async def fleet() -> None:
    with page("Fleet"):
        table = ui.table(columns=COLUMNS, rows=await run_db(_rows), row_key="id").classes("w-full").props("flat")
        table.add_slot("body-cell-id", '<q-td :props="props"><a :href="\'/fleet/\' + props.value">{{ props.value }}</a></q-td>')
        table.add_slot("body-cell-status", '<q-td :props="props"><q-badge :color="props.value == \'online\' ? \'green\' : \'grey\'">'
                                           '{{ props.value }}</q-badge></q-td>')

        async def refresh() -> None:
            table.rows = await run_db(_rows)
            table.update()

        ui.timer(2.0, refresh)


@ui.page("/fleet/{edge_id}")
async def edge_detail(edge_id: str) -> None:
    with page("Fleet"):
        ui.link("← all edges", "/fleet")
        header = ui.label(edge_id).classes("text-xl")
        facts = ui.label("").classes("text-sm text-gray-600")
        devices = ui.table(columns=[{"name": c, "label": c.replace("_", " ").title(), "field": c, "align": "left"}
                                    for c in ("device", "status", "reads", "errors", "mean_read_ms", "last_error")],
                           rows=[]).classes("w-full").props("dense flat")
        charts = {key: ui.echart({"title": {"text": title, "textStyle": {"fontSize": 13}}, "tooltip": {"trigger": "axis"},
                                  "xAxis": {"type": "time"}, "yAxis": {"type": "value"}, "animation": False,
                                  "series": [{"type": "line", "showSymbol": False, "data": []}]}).classes("w-full h-56")
                  for key, title in [("cpu_percent", "CPU %"), ("memory_percent", "Memory %"),
                                     ("disk_percent", "Disk %"), ("outbox_depth", "Outbox depth")]}

        async def refresh() -> None:
            try:
                edge = await run_db(service.get_edge, edge_id)
            except Exception:  # noqa: BLE001 - an edge that never sent a heartbeat
                facts.text = "This edge has not sent a heartbeat yet."
                return
            header.text = f"{edge.id} — {edge.status}"
            facts.text = (f"last heartbeat {edge.last_heartbeat}Z · ip {edge.ip_address} · agent {edge.agent_version} · "
                          f"config {edge.config_version} · outbox {edge.outbox_depth} (dropped {edge.outbox_dropped})")
            devices.rows = [{"device": k, **{c: v.get(c) for c in ("status", "reads", "errors", "mean_read_ms", "last_error")}}
                            for k, v in (edge.devices or {}).items()]
            devices.update()
            metrics = await run_db(service.metric_history, edge_id, int((time.time() - 86400) * 1000))
            for key, chart in charts.items():
                chart.options["series"][0]["data"] = [[m.ts, getattr(m, key)] for m in metrics]
                chart.update()

        await refresh()
        ui.timer(5.0, refresh)
