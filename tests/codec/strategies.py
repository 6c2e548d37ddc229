"""Hypothesis strategies for values of every data type, shared by the codec and driver tests."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from tagpipe.contracts.config import ByteOrder, DataType

RANGES = {
    DataType.INT16: (-(2**15), 2**15 - 1), DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1), DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1), DataType.UINT64: (0, 2**64 - 1),
}
NUMERIC = [t for t in DataType if t not in (DataType.BOOL, DataType.STRING)]
ORDERS = list(ByteOrder)


def values(data_type: DataType, *, length: int = 16, one_byte: bool = False) -> st.SearchStrategy[object]:
    """Values that survive a round trip through ``data_type`` exactly."""
    if one_byte:
        lo, hi = (-128, 127) if data_type is DataType.INT16 else (0, 255)
        return st.booleans() if data_type is DataType.BOOL else st.integers(lo, hi)
    if data_type is DataType.BOOL:
        return st.booleans()
    if data_type is DataType.STRING:
        return st.text(string.ascii_letters + string.digits + " -_.", max_size=length)
    if data_type is DataType.FLOAT32:
        return st.floats(width=32, allow_nan=False, allow_infinity=False)
    if data_type is DataType.FLOAT64:
        return st.floats(allow_nan=False, allow_infinity=False)
    lo, hi = RANGES[data_type]
    return st.integers(lo, hi)
