"""The certificates and keys the server delivered for this edge's devices, as files only this user can read."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from tagpipe import files
from tagpipe.contracts import DeviceConfig
from tagpipe.drivers.base import MATERIAL_NAME

log = logging.getLogger(__name__)


class MaterialDir(Mapping[str, bytes]):
    """``data_dir/certs`` (mode 0700, files 0600): written from the config, read by a driver when it connects."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def keep(self, devices: Iterable[DeviceConfig]) -> None:
        """Write what ``devices`` name and remove what none names any more."""
        wanted: dict[str, bytes] = {}
        for device in devices:
            for name, pem in device.files.items():
                if MATERIAL_NAME.fullmatch(name):
                    wanted[name] = pem.encode()
                else:  # a name is never a path, whatever a server sends
                    log.warning("device %s: ignored the file named %r", device.id, name)
        if not wanted and not self.directory.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        for name, data in wanted.items():
            path = self.directory / name
            if not path.is_file() or path.read_bytes() != data:
                files.replace(path, data)
        for path in self.directory.iterdir():
            if path.name not in wanted:
                path.unlink(missing_ok=True)

    def __getitem__(self, name: str) -> bytes:
        if not MATERIAL_NAME.fullmatch(name):
            raise KeyError(name)
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        if not self.directory.is_dir():
            return iter(())
        return iter(sorted(p.name for p in self.directory.iterdir() if MATERIAL_NAME.fullmatch(p.name)))

    def __len__(self) -> int:
        return sum(1 for _ in self)
