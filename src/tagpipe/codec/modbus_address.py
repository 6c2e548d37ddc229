"""Modbus addresses: the 40001 / 30001 / 00001 / 10001 convention (5 or 6 digits) and explicit ``hr:100``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tagpipe.errors import InvalidInput


class Table(StrEnum):
    COIL = "co"
    DISCRETE_INPUT = "di"
    INPUT_REGISTER = "ir"
    HOLDING_REGISTER = "hr"

    @property
    def is_bit(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE_INPUT)

    @property
    def writable(self) -> bool:
        return self in (Table.COIL, Table.HOLDING_REGISTER)


@dataclass(frozen=True, slots=True)
class ModbusAddress:
    table: Table
    offset: int
    bit: int | None = None


EXPECTED = ("40001-49999 / 30001-39999 / 00001-09999 / 10001-19999 (or 6 digits like 400001), "
            "or hr:N / ir:N / co:N / di:N, with an optional .bit (0-15) on registers")
_EXPLICIT = re.compile(r"^(hr|ir|co|di|coil|holding|input|discrete):(\d{1,5})(?:\.(\d{1,2}))?$", re.IGNORECASE)
_CONVENTION = re.compile(r"^(\d{1,6})(?:\.(\d{1,2}))?$")
_ALIASES = {"coil": "co", "holding": "hr", "input": "ir", "discrete": "di"}
_PREFIX = {0: Table.COIL, 1: Table.DISCRETE_INPUT, 3: Table.INPUT_REGISTER, 4: Table.HOLDING_REGISTER}


def parse_modbus_address(text: str) -> ModbusAddress:
    """Parse an address; raises InvalidInput naming ``address`` and the accepted forms."""
    s = str(text).strip()
    if m := _EXPLICIT.match(s):
        table = Table(_ALIASES.get(m[1].lower(), m[1].lower()))
        offset, bit = int(m[2]), (int(m[3]) if m[3] is not None else None)
    elif m := _CONVENTION.match(s):
        digits, bit = m[1], (int(m[2]) if m[2] is not None else None)
        number = int(digits)
        width = 6 if len(digits) == 6 else 5
        kind, index = divmod(number, 10 ** (width - 1))
        if len(digits) < 5:
            kind, index = 0, number
        if kind not in _PREFIX or index < 1:
            raise InvalidInput("address", EXPECTED, text)
        table, offset = _PREFIX[kind], index - 1
    else:
        raise InvalidInput("address", EXPECTED, text)
    if offset > 65535:
        raise InvalidInput("address", "an offset of at most 65535", text)
    if bit is not None and (table.is_bit or bit > 15):
        raise InvalidInput("address", "a bit number 0-15, only on a register address", text)
    return ModbusAddress(table, offset, bit)
