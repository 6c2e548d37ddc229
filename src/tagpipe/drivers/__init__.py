"""Protocol drivers: one module per protocol implementing ``Driver``, registered in ``DRIVERS``.

Imports codec, contracts and errors only; never central code. Simulators live in ``drivers.sims``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from tagpipe.contracts.config import TagConfig
from tagpipe.drivers.base import Driver, Material, Reading, material_fields
from tagpipe.errors import InvalidInput


class _Registry(Mapping[str, type[Driver]]):
    """The protocol table: each driver module is imported when first used, so an edge or a worker loads only the
    protocol libraries it needs (asyncua alone costs ~50 MB)."""

    def __init__(self, table: dict[str, str]) -> None:
        self._table = table

    def __getitem__(self, name: str) -> type[Driver]:
        module, _, cls = self._table[name].partition(":")
        return getattr(importlib.import_module(module), cls)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


DRIVERS: Mapping[str, type[Driver]] = _Registry({
    "modbus_tcp": "tagpipe.drivers.modbus_tcp:ModbusTcp",
    "opcua": "tagpipe.drivers.opcua:OpcUa",
    "s7": "tagpipe.drivers.s7:S7",
    "simulator": "tagpipe.drivers.simulator:Simulator",
    "xgt": "tagpipe.drivers.xgt:Xgt",
})
ALIASES = {"plc_ethernet": "xgt"}


def driver_class(protocol: str) -> type[Driver]:
    name = ALIASES.get(protocol, protocol)
    if name not in DRIVERS:
        raise InvalidInput("protocol", "one of " + ", ".join(sorted([*DRIVERS, *ALIASES])), protocol)
    return DRIVERS[name]


def make_driver(protocol: str, connection: dict[str, Any], material: Material | None = None) -> Driver:
    """The driver for a stored connection. Keys this version does not know are left out (a newer server may send
    settings an older edge lacks); the server refuses unknown keys when a connection is saved. ``material``: the
    certificates and keys the connection names, for a driver whose settings name any."""
    cls = driver_class(protocol)
    known = {k: v for k, v in connection.items() if k in cls.settings_model.model_fields}
    return driver_for(protocol, validate_settings(protocol, known), material)


def driver_for(protocol: str, settings: Any, material: Material | None = None) -> Driver:
    """The driver for validated ``settings``; one whose settings name certificates or keys gets ``material``."""
    cls = driver_class(protocol)
    if material_fields(cls.settings_model):
        return cls(settings, material=material or {})  # type: ignore[call-arg]
    return cls(settings)


def validate_settings(protocol: str, connection: dict[str, Any]) -> Any:
    """The protocol's settings model for ``connection``: InvalidInput naming ``connection.<field>`` for a missing,
    wrong or unknown key."""
    cls = driver_class(protocol)
    try:
        return cls.settings_model.model_validate(connection)
    except ValidationError as e:
        err = e.errors()[0]
        field = "connection." + ".".join(str(p) for p in err["loc"]) if err["loc"] else "connection"
        # A validator's own sentence as it wrote it; pydantic's messages ("Input should be ...") in lower case.
        said = str(err["ctx"]["error"]) if err["type"] == "value_error" and "error" in err.get("ctx", {}) else None
        raise InvalidInput(field, said or err["msg"].lower(), err.get("input", ...)) from None


def validate_tag(protocol: str, tag: TagConfig) -> None:
    driver_class(protocol).validate_tag(tag)


__all__ = ["ALIASES", "DRIVERS", "Driver", "Material", "Reading", "driver_class", "driver_for", "make_driver",
           "material_fields", "validate_settings", "validate_tag"]
