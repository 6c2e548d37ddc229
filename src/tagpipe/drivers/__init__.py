"""Protocol drivers: one module per protocol implementing ``Driver``, registered in ``DRIVERS``.

Imports codec, contracts and errors only; never central code. Simulators live in ``drivers.sims``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tagpipe.contracts.config import TagConfig
from tagpipe.drivers.base import Driver, Reading
from tagpipe.drivers.modbus_tcp import ModbusTcp
from tagpipe.drivers.opcua import OpcUa
from tagpipe.drivers.s7 import S7
from tagpipe.drivers.simulator import Simulator
from tagpipe.drivers.xgt import Xgt
from tagpipe.errors import InvalidInput

DRIVERS: dict[str, type[Driver]] = {
    "modbus_tcp": ModbusTcp,
    "opcua": OpcUa,
    "s7": S7,
    "simulator": Simulator,
    "xgt": Xgt,
}
ALIASES = {"plc_ethernet": "xgt"}


def driver_class(protocol: str) -> type[Driver]:
    name = ALIASES.get(protocol, protocol)
    if name not in DRIVERS:
        raise InvalidInput("protocol", "one of " + ", ".join(sorted([*DRIVERS, *ALIASES])), protocol)
    return DRIVERS[name]


def make_driver(protocol: str, connection: dict[str, Any]) -> Driver:
    cls = driver_class(protocol)
    return cls(validate_settings(protocol, connection))


def validate_settings(protocol: str, connection: dict[str, Any]) -> Any:
    cls = driver_class(protocol)
    try:
        return cls.settings_model.model_validate(connection)
    except ValidationError as e:
        err = e.errors()[0]
        field = "connection." + ".".join(str(p) for p in err["loc"]) if err["loc"] else "connection"
        raise InvalidInput(field, err["msg"].lower(), err.get("input", ...)) from None


def validate_tag(protocol: str, tag: TagConfig) -> None:
    driver_class(protocol).validate_tag(tag)


__all__ = ["ALIASES", "DRIVERS", "Driver", "Reading", "driver_class", "make_driver", "validate_settings", "validate_tag"]
