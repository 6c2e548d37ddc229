"""The worker has no network: a socket opened inside it, after the filter is installed, fails with EPERM.

The worker's ``isolation`` request is the test hook: it calls the real ``socket.socket()`` (and ``connect``) inside the
worker process, as code that escaped the restricted compile would, and answers what the kernel said.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tagpipe.sandbox import SandboxPool, isolation
from tests.sandbox.conftest import assert_pool_works
from tests.sandbox.corpus import ATTEMPTS

ASYNC = pytest.mark.asyncio(loop_scope="module")
ROOT = os.geteuid() == 0
FILTERED = platform.machine() in isolation.ARCHES
MODULE = Path(isolation.__file__)
NOBODY = 65534

# Run in a fresh interpreter as the given user: the isolation module alone (no tagpipe import), before and after.
SELF_TEST = f"""
import importlib.util, json, os
spec = importlib.util.spec_from_file_location("isolation", {str(MODULE)!r})
iso = importlib.util.module_from_spec(spec); spec.loader.exec_module(iso)
before = iso.probe()
namespace = iso.network_namespace()
seccomp = iso.deny_sockets()
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
x32 = libc.syscall(0x40000000 | 41, 2, 1, 0)  # socket() through the x32 ABI: refused too, not stepped around
print(json.dumps({{"uid": os.geteuid(), "before": before, "namespace": namespace, "seccomp": seccomp,
                  "after": iso.probe(), "x32": [x32, ctypes.get_errno()]}}))
"""


@pytest.mark.skipif(not FILTERED, reason=f"no seccomp filter for {platform.machine()}")
@ASYNC
async def test_a_socket_opened_inside_the_worker_gets_eperm(pool: SandboxPool) -> None:
    worker = pool._workers[0]
    report = await worker.request(["isolation"])  # real socket.socket() in the worker, filter installed
    assert report["seccomp"] == "on"
    assert report["sockets"] == {"inet": "EPERM", "inet6": "EPERM", "unix": "EPERM"}
    assert report["no_network"] is True
    assert pool.isolation["no_network"] is True and pool.isolation["sockets"] == report["sockets"]
    await assert_pool_works(pool)


@pytest.mark.skipif(not ROOT, reason="a network namespace needs root")
@ASYNC
async def test_as_root_the_worker_is_in_its_own_network_namespace_too(pool: SandboxPool) -> None:
    assert pool.isolation["network_namespace"] == "on"
    pid = pool._workers[0].pid
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")


@pytest.mark.skipif(not FILTERED, reason=f"no seccomp filter for {platform.machine()}")
@ASYNC
async def test_the_filter_holds_after_the_escape_corpus_ran(pool: SandboxPool) -> None:
    for attempt in [a for a in ATTEMPTS if a.stage == "run"][:15]:
        await pool.dry_run(code=attempt.code, hook_type=attempt.hook_type,
                           test_input={"tag_name": "t", "raw_value": 2}, timeout_ms=200)
    for worker in pool._workers:  # restarted ones included
        report = await worker.request(["isolation"])
        assert set(report["sockets"].values()) == {"EPERM"}, report


@pytest.mark.skipif(not FILTERED, reason=f"no seccomp filter for {platform.machine()}")
def test_without_root_the_filter_alone_refuses_sockets() -> None:
    """What holds for a non-root user: no namespace (said why), the seccomp filter all the same."""
    drop = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if ROOT else {}
    python = "/usr/bin/python3" if ROOT and Path("/usr/bin/python3").exists() else sys.executable
    out = subprocess.run([python, "-I", "-c", SELF_TEST], capture_output=True, text=True, timeout=30, cwd="/",
                         check=False, **drop)  # type: ignore[arg-type]
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["uid"] != 0
    assert result["before"]["inet"].startswith(("opened", "connected"))  # the same process could, before
    assert result["namespace"].startswith("off: needs root")
    assert result["seccomp"] == "on"
    assert result["after"] == {"inet": "EPERM", "inet6": "EPERM", "unix": "EPERM"}
    if platform.machine() == "x86_64":
        assert result["x32"] == [-1, 1]  # EPERM from the filter (ENOSYS would mean it reached the kernel)


def test_an_unknown_architecture_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "sparc64")
    assert isolation.deny_sockets() == "off: no filter for the sparc64 architecture"


@pytest.mark.parametrize("machine", sorted(isolation.ARCHES))
def test_the_filter_checks_the_architecture_first_and_ends_in_allow_then_deny(machine: str) -> None:
    import struct

    ops = [struct.unpack("=HBBI", isolation.filter_program(machine)[i:i + 8])
           for i in range(0, len(isolation.filter_program(machine)), 8)]
    assert ops[0] == (isolation.BPF_LD_W_ABS, 0, 0, 4) and ops[1][3] == isolation.ARCHES[machine][0]
    assert ops[-2][3] == isolation.SECCOMP_RET_ALLOW and ops[-1][3] == isolation.SECCOMP_RET_ERRNO | 1
    for i, (code, jt, _, _) in enumerate(ops):  # every refused call jumps exactly to the final deny
        if code == isolation.BPF_JEQ_K and i > 1:
            assert i + 1 + jt == len(ops) - 1
