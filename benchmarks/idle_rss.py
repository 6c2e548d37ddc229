"""Resident memory of ``tagpipe up`` at rest: nats-server, the worker and the web server once they have started.

Run: ``.venv/bin/python benchmarks/idle_rss.py [--wait 15] [--runs 2]``

Starts ``tagpipe up`` on free ports in a temporary data directory (as ``ingest.py`` does), waits ``--wait`` seconds
with no traffic, and prints the RSS and USS of each central process: what a process holds for its imports and
start-up, before any data arrives. Prints figures; never part of the tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import central_processes, tagpipe_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=15.0, help="seconds after the web server listens")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for run in range(args.runs):
        with tagpipe_up("tagpipe-idle-") as central:
            procs = central_processes(central.up)
            time.sleep(args.wait)
            figures = {name: p.memory_full_info() for name, p in procs.items()}
        print(f"run {run + 1}: " + "   ".join(f"{name} RSS {m.rss / 2**20:.0f} MB (USS {m.uss / 2**20:.0f})"
                                            for name, m in figures.items()))


if __name__ == "__main__":
    main()
