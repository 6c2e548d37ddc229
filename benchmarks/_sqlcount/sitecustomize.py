"""Counts the SQL statements of every process that starts with this directory on PYTHONPATH and
TAGPIPE_BENCH_SQL_COUNTS set: each writes its count to ``$TAGPIPE_BENCH_SQL_COUNTS/<pid>`` twice a second.

Works on any version of tagpipe (it hooks SQLAlchemy's Engine class), so a benchmark can compare before and after.
"""

import os

_DIR = os.environ.get("TAGPIPE_BENCH_SQL_COUNTS")
if _DIR:
    import threading
    import time

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _count = [0]

    @event.listens_for(Engine, "before_cursor_execute")
    def _counted(*_args: object) -> None:
        _count[0] += 1

    def _dump() -> None:
        path = os.path.join(_DIR, str(os.getpid()))
        while True:
            with open(path + ".tmp", "w") as f:
                f.write(str(_count[0]))
            os.replace(path + ".tmp", path)
            time.sleep(0.5)

    threading.Thread(target=_dump, daemon=True, name="sql-count").start()
