"""Latest values of many tags: the fast path reads every row exactly as ``json.loads`` would, on SQLite and
PostgreSQL, and a row that cannot be shown comes back bad, never as an exception."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tagpipe.contracts import in_time_range
from tagpipe.db import make_engine, upgrade
from tagpipe.history.service import latest_values
from tagpipe.ports import LatestValue

T = 1_776_412_800_000
STORED = [  # (ts, value_json, quality) as rows may hold them
    (T, "21.5", 0), (T, "42", 0), (T, "-0.0", 0), (T, "1e400", 0), (T, "true", 0), (T, "null", 0),
    (T, '"AUTO"', 0), (T, '{"a": [1, 2.5, "x"]}', 0), (T, " 1", 0), (T, "1 ", 0), (T, "\t[1]\n", 0),
    (T, "1 2", 0), (T, "01", 0), (T, "\ufeff1", 0), (T, "not json", 0), (T, "NaN", 0), (T, "-Infinity", 0),
    (T, "[1, Infinity]", 0), (T, "", 0), (T, '"unterminated', 0), (T, "[" * 100_000, 0), (T, '"\\ud800"', 0),
    (T, "21.5", 1), (T, "null", 1), (-1_000_000_000_000_000, "21.5", 0), (9_000_000_000_000_000, "21.5", 0),
    (2**62, "1", 1), (0, "0", 0), (253_402_300_799_999, "7", 0), (253_402_300_800_000, "7", 0), (T, "5", 2),
]


def _refuse(constant: str) -> None:
    raise ValueError(constant)


def reference(tag_id: int, ts: int, value_json: str, quality: int) -> LatestValue:
    """What a row means, decoded the slow, obvious way (json.loads per row)."""
    ok_ts = in_time_range(ts)
    try:
        value, ok_value = json.loads(value_json, parse_constant=_refuse), True
    except (ValueError, RecursionError):
        value, ok_value = None, False
    good = ok_ts and ok_value and quality != 1
    return LatestValue(tag_id, ts if ok_ts else None, value, "good" if good else "bad")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = request.getfixturevalue("postgres_db") if request.param == "postgresql" else f"sqlite:///{tmp_path / 'l.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def insert(engine: Engine, rows: dict[int, tuple[int, str, int]]) -> None:
    with engine.begin() as db:
        db.execute(text("INSERT INTO latest (tag_id, ts, value_json, quality) VALUES (:t, :ts, :v, :q)"),
                   [{"t": t, "ts": ts, "v": v, "q": q} for t, (ts, v, q) in rows.items()])


def test_every_kind_of_stored_row_reads_as_json_loads_reads_it(engine: Engine) -> None:
    rows = {100 + i: row for i, row in enumerate(STORED)}
    insert(engine, rows)
    with Session(engine) as s:
        got = latest_values(s, list(rows))
        everything = latest_values(s)
    want = {t: reference(t, *row) for t, row in rows.items()}
    assert got == want
    assert everything == want
    assert got[100].quality == "good" and got[100].value == 21.5 and got[104].value is True  # the oracle is not blind
    assert {t for t, v in got.items() if v.quality == "bad"} >= {113, 114, 115, 116, 117, 120, 122, 123, 124, 125}


def test_many_ids_find_exactly_the_stored_ones(engine: Engine) -> None:
    rows = {t: (T + t, json.dumps(t / 10 if t % 3 else t), 1 if t % 7 == 0 else 0) for t in range(1, 20_001)}
    rows[5] = (T, "NaN", 0)
    rows[6] = (T, "not json", 0)
    insert(engine, rows)
    asked = [*range(1, 40_001, 2), 6, 6, 2**31, 2**63 - 1]  # 20,000 stored, 20,000 not, a repeat, ids no table holds
    with Session(engine) as s:
        got = latest_values(s, asked)
        assert latest_values(s, []) == {}
    want = {t: reference(t, *rows[t]) for t in set(asked) if t in rows}
    assert len(want) == 10_001 and got == want
    assert got[5].quality == "bad" and got[6].quality == "bad" and got[7].quality == "bad"
    assert got[9] == LatestValue(9, T + 9, 9, "good") and got[11].value == 1.1
