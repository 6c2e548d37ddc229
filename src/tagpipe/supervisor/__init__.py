"""Supervision of the child processes of ``tagpipe up`` and ``tagpipe demo``: restart with back-off, crash-loop
reports, a snapshot for the health report. Infrastructure: imports no feature and nothing central but ``backoff``."""

from tagpipe.supervisor.policy import CRASH_LOOP_AFTER, STABLE_S, Record, State
from tagpipe.supervisor.supervisor import ChildSpec, ChildStatus, Supervisor

__all__ = ["CRASH_LOOP_AFTER", "STABLE_S", "ChildSpec", "ChildStatus", "Record", "State", "Supervisor"]
