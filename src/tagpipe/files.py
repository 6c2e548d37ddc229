"""Files tagpipe writes whole: replaced at once, with their mode from the first byte (a key or a credential is
never readable by others, not even while it is being written). Used by the edge and central processes alike."""

from __future__ import annotations

import os
from pathlib import Path


def replace(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` at once; the file has ``mode`` (default: this user only) from the start."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask, or a stale temporary file, left
        os.write(fd, data)
    finally:
        os.close(fd)
    tmp.replace(path)
