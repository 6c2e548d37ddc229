"""No network for the worker process, below Python: a network namespace (as root) and a seccomp filter (anyone).

Defence in depth behind the restricted compile: even code that escaped it cannot open a socket. Each layer that
cannot be installed is reported (``Isolation``), never fatal: the sandbox keeps running with the layers it has.

- **Network namespace** (``unshare(CLONE_NEWNET)``, needs CAP_SYS_ADMIN, i.e. root): the worker sees only a
  loopback interface that is down; there is no route anywhere, whatever it manages to call.
- **seccomp filter** (``PR_SET_NO_NEW_PRIVS`` + a BPF program, works for any user on Linux 3.5+ with
  CONFIG_SECCOMP_FILTER): ``socket``/``socketpair`` of every family fail with EPERM, and so do the calls that would
  get a socket another way (io_uring, which opens sockets without the ``socket`` system call; ptrace,
  process_vm_* and pidfd_getfd, which reach into another process of the same user). Calls in another ABI (x32,
  i386 through ``int 0x80``) fail with EPERM altogether, so the filter cannot be stepped around. The worker needs
  no socket: it talks over inherited pipes.

The filter is installed with TSYNC (every thread) and cannot be removed by the process or its children.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import struct
from typing import Any

# <linux/sched.h>, <linux/prctl.h>, <linux/seccomp.h>, <linux/filter.h>, <linux/audit.h>
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_RET_K = 0x06
X32_SYSCALL_BIT = 0x40000000

# Per architecture: audit arch, the seccomp system call, and the calls refused (socket, socketpair, ptrace,
# process_vm_readv, process_vm_writev, io_uring_setup / enter / register, pidfd_getfd).
ARCHES: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "x86_64": (0xC000003E, 317, (41, 53, 101, 310, 311, 425, 426, 427, 438)),
    "aarch64": (0xC00000B7, 277, (198, 199, 117, 270, 271, 425, 426, 427, 438)),
}


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _failed(what: str) -> str:
    code = ctypes.get_errno()
    return f"{what}: {errno.errorcode.get(code, code)} ({os.strerror(code)})"


def network_namespace() -> str:
    """Move this process into a new, empty network namespace; ``on`` or why not (before dropping root)."""
    if os.geteuid() != 0:
        return "off: needs root (CAP_SYS_ADMIN)"
    if _libc().unshare(CLONE_NEWNET) != 0:
        return "off: " + _failed("unshare(CLONE_NEWNET)")
    return "on"


def filter_program(machine: str) -> bytes:
    """The BPF program (``struct sock_filter[]``) for ``machine``; KeyError when unknown."""
    audit_arch, _, refused = ARCHES[machine]
    deny = SECCOMP_RET_ERRNO | errno.EPERM
    ops: list[tuple[int, int, int, int]] = [
        (BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (BPF_JEQ_K, 1, 0, audit_arch),
        (BPF_RET_K, 0, 0, deny),  # another ABI: nothing at all
        (BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":
        ops.append((BPF_JGE_K, len(refused) + 1, 0, X32_SYSCALL_BIT))  # x32 calls: to the final deny
    for i, nr in enumerate(refused):
        ops.append((BPF_JEQ_K, len(refused) - i, 0, nr))  # jump to the deny after the allow
    ops += [(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW), (BPF_RET_K, 0, 0, deny)]
    return b"".join(struct.pack("=HBBI", *op) for op in ops)


def deny_sockets() -> str:
    """Install the seccomp filter on every thread of this process; ``on`` or why not."""
    machine = platform.machine()
    if machine not in ARCHES:
        return f"off: no filter for the {machine} architecture"
    libc, program = _libc(), filter_program(machine)
    code = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(program) // 8, ctypes.cast(code, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return "off: " + _failed("prctl(PR_SET_NO_NEW_PRIVS)")
    nr = ARCHES[machine][1]
    if libc.syscall(nr, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, ctypes.byref(prog)) != 0:
        return "off: " + _failed("seccomp(SECCOMP_SET_MODE_FILTER)")
    return "on"


def probe() -> dict[str, str]:
    """Open a socket of each family and connect it to this machine, as an escaped script would; what the kernel
    answers (``EPERM``: no socket; ``opened, ENETUNREACH``: a socket in an empty namespace; ``connected``)."""
    out = {}
    for name, family, address in (("inet", socket.AF_INET, ("127.0.0.1", 9)), ("inet6", socket.AF_INET6, ("::1", 9)),
                                  ("unix", socket.AF_UNIX, "\0tagpipe-sandbox-probe")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as e:
            out[name] = _name(e)
            continue
        try:
            sock.settimeout(0.2)
            sock.connect(address)
            out[name] = "connected"
        except OSError as e:
            out[name] = f"opened, {_name(e)}"
        finally:
            sock.close()
    return out


def _name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e))
