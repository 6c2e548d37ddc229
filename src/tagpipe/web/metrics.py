"""``GET /api/metrics``: a server process's counters in the Prometheus text exposition format."""

from __future__ import annotations

import psutil

from tagpipe.services import Services

_PROCESS = psutil.Process()


def prometheus_text(services: Services) -> str:
    cpu = _PROCESS.cpu_times()
    lines = [
        "# HELP tagpipe_db_queries_total Statements this server process sent to the database.",
        "# TYPE tagpipe_db_queries_total counter",
        f"tagpipe_db_queries_total {services.db_queries}",
        "# HELP tagpipe_health_db_queries_total Statements the health probe of this process sent (its own connection).",
        "# TYPE tagpipe_health_db_queries_total counter",
        f"tagpipe_health_db_queries_total {services.health.db_queries if services.health else 0}",
        "# HELP process_cpu_seconds_total User and system CPU time of this server process.",
        "# TYPE process_cpu_seconds_total counter",
        f"process_cpu_seconds_total {cpu.user + cpu.system:.3f}",
        "# HELP process_resident_memory_bytes Resident memory of this server process.",
        "# TYPE process_resident_memory_bytes gauge",
        f"process_resident_memory_bytes {_PROCESS.memory_info().rss}",
        "# HELP tagpipe_bus_connected 1 while this process is connected to NATS.",
        "# TYPE tagpipe_bus_connected gauge",
        f"tagpipe_bus_connected {int(services.bus_connected)}",
    ]
    children = services.health.latest.children if services.health else None
    if children:
        lines += ["# HELP tagpipe_child_restarts_total Restarts of each child process this process supervises.",
                  "# TYPE tagpipe_child_restarts_total counter"]
        lines += [f'tagpipe_child_restarts_total{{child="{name}"}} {c.restarts}'
                  for name, c in sorted(children.items())]
    return "\n".join(lines) + "\n"
