"""Retention policies (pure): which policy a tag has, and the horizons before which its data goes.

A policy keeps raw values ``raw_days`` days and 1-minute rollups ``rollup_1m_months`` calendar months; None keeps
them forever, and 1-hour rollups are always kept. A tag's own policy beats its equipment's, which beats the default.
Data goes a whole unit at a time: a raw hour (a compressed block) once all of it is past the raw horizon, a 1-minute
bucket once all of it is past the rollup horizon, so what is inside a horizon is never touched.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from tagpipe.history.rollup import HOUR_MS, MINUTE_MS

DAY_MS = 86_400_000
MAX_RAW_DAYS = 36_500  # 100 years
MAX_ROLLUP_MONTHS = 1_200
Scope = Literal["default", "equipment", "tag"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Policy:
    raw_days: int | None  # None: forever
    rollup_1m_months: int | None

    @classmethod
    def of(cls, raw_days: int | None, rollup_1m_months: int | None) -> Policy:
        """A policy from stored or entered numbers, 0 and None alike meaning forever."""
        return cls(raw_days=raw_days or None, rollup_1m_months=rollup_1m_months or None)


DEFAULT = Policy(raw_days=365, rollup_1m_months=24)


@dataclass(frozen=True, kw_only=True, slots=True)
class Policies:
    """Every stored policy: the default, per equipment id, per tag id."""

    default: Policy = DEFAULT
    equipment: Mapping[int, Policy] = field(default_factory=dict)
    tags: Mapping[int, Policy] = field(default_factory=dict)

    def of(self, tag_id: int, equipment_id: int | None) -> tuple[Policy, Scope]:
        """The policy of a tag (of that equipment, or None) and the scope it comes from: the most specific wins."""
        own = self.tags.get(tag_id)
        if own is not None:
            return own, "tag"
        group = self.equipment.get(equipment_id) if equipment_id is not None else None
        if group is not None:
            return group, "equipment"
        return self.default, "default"


def months_before(ms: int, months: int) -> int:
    """``ms`` moved back ``months`` calendar months in UTC (the 31st becomes the month's last day if it has fewer)."""
    t = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    years, month0 = divmod(t.month - 1 - months, 12)
    year = t.year + years
    day = min(t.day, calendar.monthrange(year, month0 + 1)[1])
    moved = t.replace(year=year, month=month0 + 1, day=day)
    return int(moved.timestamp()) * 1000 + ms % 1000


def raw_cut(now_ms: int, policy: Policy) -> int | None:
    """Raw values of hours starting before this are past the horizon (None: kept forever)."""
    if policy.raw_days is None:
        return None
    horizon = now_ms - policy.raw_days * DAY_MS
    return horizon - horizon % HOUR_MS


def rollup_cut(now_ms: int, policy: Policy) -> int | None:
    """1-minute buckets starting before this are past the horizon (None: kept forever)."""
    if policy.rollup_1m_months is None:
        return None
    horizon = months_before(now_ms, policy.rollup_1m_months)
    return horizon - horizon % MINUTE_MS
