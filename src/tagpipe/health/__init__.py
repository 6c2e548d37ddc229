"""Health of the central side: the per-process monitor, the pure rules, ``GET /api/health``.

Infrastructure: imports no feature (edges come through the ``edge_states`` port, worker roles from their status
messages on the bus, children from the supervisor's snapshot).
"""

from tagpipe.health.monitor import HealthMonitor
from tagpipe.health.schemas import Health

__all__ = ["Health", "HealthMonitor"]
