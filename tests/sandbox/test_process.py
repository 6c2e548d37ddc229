"""One worker process: the deadline watch runs only while a request waits for its reply."""

from __future__ import annotations

import pytest

from tagpipe.sandbox.process import WorkerProcess

SLOW = ("def transform(tag_name, raw_value, context):\n    n = 0\n    for i in range(300000):\n        n += i\n"
        "    return n\n")


@pytest.mark.asyncio
async def test_the_watch_ends_with_a_slow_request() -> None:
    worker = WorkerProcess("watch", 512, 30)
    await worker.start()
    try:
        reply = await worker.request(["dry", SLOW, "transform", {"tag_name": "a", "raw_value": 1}, {}, 5000.0])
        assert reply["ok"] and reply["duration_ms"] > 10  # long enough for the watch to have ticked
        assert worker._watcher is None  # a watch left ticking would kill the idle worker later
    finally:
        await worker.stop()
