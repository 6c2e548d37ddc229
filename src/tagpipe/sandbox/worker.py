"""The worker process: limits itself, then answers framed requests from the pool on stdin/stdout.

Started as ``python -I -m tagpipe.sandbox.worker MARKER_FD MEMORY_MB CPU_SECONDS`` with a clean environment.
"""

from __future__ import annotations

import _strptime  # type: ignore[import-not-found]  # noqa: F401 - datetime.strptime imports it lazily; no file may be opened later
import contextlib
import datetime
import json
import mmap
import os
import re
import resource
import statistics
import sys
import time
from typing import Any, BinaryIO

from tagpipe import gctune
from tagpipe.sandbox import isolation
from tagpipe.sandbox import marker as marker_mod
from tagpipe.sandbox.policy import compile_hook
from tagpipe.sandbox.protocol import HEADER, MAX_MESSAGE_BYTES, TagMap, decode, encode
from tagpipe.sandbox.runtime import Runtime


def _warm_up() -> None:
    """Touch everything that loads lazily or reads files, before the file limit closes the door."""
    time.localtime()
    datetime.datetime.now().astimezone()
    datetime.datetime.strptime("2024-01-02 03:04:05", "%Y-%m-%d %H:%M:%S")
    json.loads(json.dumps({"a": [1.5, "x"]}))
    statistics.mean([1, 2, 3])
    statistics.stdev([1.0, 2.0, 3.0])
    re.compile(r"(\d+)\s*\w").match("12 a")
    compile_hook("def f(x):\n    print(x)\n    return [i ** 2 for i in x]\n", "<warm>")


NOBODY = 65534
ISOLATION: dict[str, Any] = {}


def _drop_privileges() -> None:
    """Started by root: become ``nobody``, so an escape finds no file or process it may touch, and the
    process limit holds (the kernel does not apply RLIMIT_NPROC to root)."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)


def _limit(memory_mb: int, cpu_seconds: int) -> None:
    """Address space, CPU time, no new files or processes, no core files."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 16
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, highest + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024, memory_mb * 1024 * 1024))
    _arm_cpu(cpu_seconds)


def _arm_cpu(cpu_seconds: int) -> float:
    """Let this process use ``cpu_seconds`` more CPU seconds before the kernel kills it."""
    soft = int(time.process_time()) + cpu_seconds
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    return soft


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    if data is None or len(data) < size:
        return None
    return data


def _dispatch(runtime: Runtime, request: list[Any], tag_map: TagMap) -> Any:
    op = request[0]
    if op == "batch":
        return _batch(runtime, request[1], tag_map)
    if op == "add":
        return runtime.add(request[1])
    if op == "drop":
        runtime.drop(request[1])
        return None
    if op == "try":
        return runtime.try_run(request[1], request[2], request[3], request[4], request[5], request[6])
    if op == "check":
        return runtime.check(request[1], request[2])
    if op == "dry":
        return runtime.dry_run(request[1], request[2], request[3], request[4], request[5])
    if op == "validate":
        return runtime.validate(request[1], request[2])
    if op == "ping":
        return "pong"
    if op == "isolation":  # asked once at start, and by tests: the layers, and sockets tried here and now
        return {**ISOLATION, "sockets": isolation.probe()}
    raise ValueError(f"unknown request {op!r}")


def _batch(runtime: Runtime, items: list[list[Any]], tag_map: TagMap) -> list[Any]:
    """Cycles (``["c", payload, context, skip]``) and runs (``["r", slot, inputs, context, state, trace]``), in order.

    Per cycle ``[payload, alarms, errors, restart]``, per run what ``Runtime.run`` answers; hook runs per script
    summed over the batch.
    """
    replies: list[Any] = []
    runs: dict[int, int] = {}
    index = runtime.marker.cycle
    for i, item in enumerate(items):
        index[0] = i  # the parent reads it if this item kills the worker
        if item[0] == "c":
            payload = tag_map.unpack(item[1])
            if payload is None:
                raise ValueError("a cycle needs a payload")
            reply = runtime.cycle(payload, item[2], item[3])
            replies.append([tag_map.pack(reply["p"]), reply["a"], reply["e"], reply["x"]])
            for sid, n in reply["r"]:
                runs[sid] = runs.get(sid, 0) + n
        else:
            replies.append(runtime.run(item[1], item[2], item[3], item[4], item[5]))
    return [replies, list(runs.items())]


def serve(stdin: BinaryIO, out_fd: int, runtime: Runtime, cpu_seconds: int) -> None:
    """Answer requests until stdin closes."""
    cpu_soft = _arm_cpu(cpu_seconds)
    tag_map = TagMap()
    while True:
        head = _read_exact(stdin, HEADER.size)
        if head is None:
            return
        (size,) = HEADER.unpack(head)
        if size > MAX_MESSAGE_BYTES:
            return
        body = _read_exact(stdin, size)
        if body is None:
            return
        if time.process_time() > cpu_soft - cpu_seconds / 2:
            cpu_soft = _arm_cpu(cpu_seconds)
        try:
            reply = encode(["ok", _dispatch(runtime, decode(body), tag_map)])
        except MemoryError:
            reply = encode(["error", "out of memory", True])
        except Exception as e:  # noqa: BLE001 - report and keep serving
            reply = encode(["error", f"{type(e).__name__}: {e}"[:500], False])
        view = memoryview(reply)
        while view:
            written = os.write(out_fd, view)
            view = view[written:]


def main(argv: list[str]) -> None:
    marker_fd, memory_mb, cpu_seconds = int(argv[1]), int(argv[2]), int(argv[3])
    buf = mmap.mmap(marker_fd, marker_mod.SIZE)
    out_fd = os.dup(1)
    os.dup2(2, 1)  # stray writes to stdout must never corrupt the protocol stream
    sys.stdout = sys.stderr
    sys.setrecursionlimit(1000)
    _warm_up()
    gctune.settle()
    namespace = isolation.network_namespace()  # while still root, if started by root
    _drop_privileges()
    ISOLATION.update(network_namespace=namespace, seccomp=isolation.deny_sockets())
    ISOLATION["no_network"] = "on" in (namespace, ISOLATION["seccomp"])
    _limit(memory_mb, cpu_seconds)
    serve(sys.stdin.buffer, out_fd, Runtime(marker_mod.Marker(buf)), cpu_seconds)


if __name__ == "__main__":
    main(sys.argv)
