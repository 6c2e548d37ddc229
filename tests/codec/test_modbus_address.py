"""codec.modbus_address: the 0/1/3/4xxxx convention, 6-digit forms, explicit tables and bits, as a case table."""

from __future__ import annotations

import pytest

from tagpipe.codec.modbus_address import ModbusAddress, Table, parse_modbus_address
from tagpipe.errors import InvalidInput

HR, IR, CO, DI = Table.HOLDING_REGISTER, Table.INPUT_REGISTER, Table.COIL, Table.DISCRETE_INPUT

GOOD = [
    ("40001", ModbusAddress(HR, 0)),
    ("49999", ModbusAddress(HR, 9998)),
    ("400001", ModbusAddress(HR, 0)),
    ("465536", ModbusAddress(HR, 65535)),
    ("30001", ModbusAddress(IR, 0)),
    ("300010", ModbusAddress(IR, 9)),
    ("00001", ModbusAddress(CO, 0)),
    ("1", ModbusAddress(CO, 0)),
    ("10001", ModbusAddress(DI, 0)),
    ("hr:100", ModbusAddress(HR, 100)),
    ("HR:0", ModbusAddress(HR, 0)),
    ("ir:7", ModbusAddress(IR, 7)),
    ("co:5", ModbusAddress(CO, 5)),
    ("di:65535", ModbusAddress(DI, 65535)),
    ("holding:3", ModbusAddress(HR, 3)),
    ("40001.3", ModbusAddress(HR, 0, 3)),
    ("hr:10.15", ModbusAddress(HR, 10, 15)),
    (" 40002 ", ModbusAddress(HR, 1)),
]

BAD = [
    "", "abc", "40000", "20001", "50001", "00000", "hr:", "xx:1", "hr:-1", "hr:70000", "40001.16",
    "00001.1", "co:1.2", "4000a", "hr:1.2.3", "1234567",
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_addresses(text: str, expected: ModbusAddress) -> None:
    assert parse_modbus_address(text) == expected


@pytest.mark.parametrize("text", BAD)
def test_bad_addresses_name_the_address_field(text: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_modbus_address(text)
    assert e.value.field == "address"
    assert repr(text) in str(e.value) or "at most" in str(e.value) or "bit number" in str(e.value)
