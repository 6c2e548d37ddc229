"""Retention: the stored policies, and the background deletion of what is past their horizons.

``Retention.step`` deletes, in one short transaction, at most ``rows`` rows over at most ``tags`` tags: raw values
(samples and compressed blocks) whose whole hour is past the tag's raw horizon and 1-minute rollups whose whole minute
is past its rollup horizon; 1-hour rollups stay. The ingest worker runs it between batches, with the compactor, under
the same lock, so a batch waits for one step at most; a pass over every tag starts every ``repeat_s``. Policies are
read at every step, so a change applies from the next step on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from tagpipe import plant
from tagpipe.db import fits
from tagpipe.errors import InvalidInput, NotFound
from tagpipe.history import disk
from tagpipe.history.models import RetentionPolicy
from tagpipe.history.policy import Policies, Policy, Scope, raw_cut, rollup_cut

log = logging.getLogger(__name__)
# (table, time column, which horizon): a raw hour is in samples or in a block, never both.
TABLES = (("sample_blocks", "start_ts", "raw"), ("samples", "ts", "raw"), ("rollup_1m", "bucket", "rollup"))


def load(session: Session) -> Policies:
    """Every stored policy."""
    default, equipment, tags = None, {}, {}
    for row in session.scalars(select(RetentionPolicy)):
        policy = Policy.of(row.raw_days, row.rollup_1m_months)
        if row.scope == "default":
            default = policy
        elif row.scope == "equipment":
            equipment[row.scope_id] = policy
        elif row.scope == "tag":
            tags[row.scope_id] = policy
    return Policies(equipment=equipment, tags=tags) if default is None else \
        Policies(default=default, equipment=equipment, tags=tags)


def _check_scope(session: Session, scope: Scope, scope_id: int) -> None:
    if scope == "default":
        return
    if scope == "tag" and scope_id not in plant.equipment_of_tags(session, [scope_id]):
        raise NotFound(f"tag {scope_id} not found")
    if scope == "equipment" and scope_id not in {e["id"] for e in plant.equipment_tree(session)}:
        raise NotFound(f"equipment {scope_id} not found")


def set_policy(session: Session, scope: Scope, scope_id: int, policy: Policy) -> Policy:
    """Store the policy of a scope (the default's ``scope_id`` is 0); NotFound for an equipment or tag that is not."""
    if scope not in ("default", "equipment", "tag"):
        raise InvalidInput("scope", "default, equipment or tag", scope)
    _check_scope(session, scope, scope_id)
    row = session.get(RetentionPolicy, (scope, scope_id))
    if row is None:
        row = RetentionPolicy(scope=scope, scope_id=scope_id)
        session.add(row)
    row.raw_days, row.rollup_1m_months = policy.raw_days, policy.rollup_1m_months
    session.commit()
    return policy


def clear_policy(session: Session, scope: Scope, scope_id: int) -> None:
    """Drop the override of an equipment or tag (it follows the next scope again), or the default's (the built-in
    defaults apply again); NotFound if there is none."""
    row = session.get(RetentionPolicy, (scope, scope_id)) if fits(scope_id) or scope == "default" else None
    if row is None:
        raise NotFound(f"no retention policy for {scope} {scope_id}")
    session.delete(row)  # through the ORM: the audit log shows what was dropped
    session.commit()


def effective(session: Session, tag_id: int) -> tuple[Policy, Scope]:
    """The policy a tag has and where it comes from; NotFound for a tag that is not."""
    equipment = plant.equipment_of_tags(session, [tag_id])
    if tag_id not in equipment:
        raise NotFound(f"tag {tag_id} not found")
    return load(session).of(tag_id, equipment[tag_id])


# The smallest tag ids above :after in one table, one index seek each (a loose index scan, on both backends).
_NEXT_TAGS = """WITH RECURSIVE t(id, n) AS (
 SELECT (SELECT MIN(tag_id) FROM {table} WHERE tag_id > :after), 1
 UNION ALL SELECT (SELECT MIN(tag_id) FROM {table} WHERE tag_id > t.id), t.n + 1 FROM t
 WHERE t.id IS NOT NULL AND t.n < :n) SELECT id FROM t WHERE id IS NOT NULL"""


def _next_tags(session: Session, after: int, n: int) -> list[int]:
    """The ``n`` smallest tag ids above ``after`` with raw values or 1-minute rollups."""
    bound, found = None, set()
    for table, _, _ in TABLES:
        ids = list(session.execute(text(_NEXT_TAGS.format(table=table)), {"after": after, "n": n}).scalars())
        found.update(ids)
        if len(ids) == n:  # this table may hold ids beyond its last: only what every table has listed is complete
            bound = ids[-1] if bound is None else min(bound, ids[-1])
    return sorted(i for i in found if bound is None or i <= bound)[:n]


def _due(session: Session, cuts: dict[tuple[str, str, int], list[int]]) -> dict[int, list[tuple[str, str, int]]]:
    """Of the tags listed per (table, column, cut), those with rows before the cut: (table, column, cut) per tag.
    One statement per group, an index seek per tag: most tags of a pass have nothing to delete."""
    due: dict[int, list[tuple[str, str, int]]] = {}
    for (table, column, cut), ids in cuts.items():
        listed = ",".join(f"({int(i)})" for i in ids)  # ints from the database, not input
        for (tag_id,) in session.execute(text(
                f"WITH ids(id) AS (VALUES {listed}) SELECT id FROM ids WHERE EXISTS "
                f"(SELECT 1 FROM {table} AS x WHERE x.tag_id = ids.id AND x.{column} < :cut)"), {"cut": cut}):
            due.setdefault(tag_id, []).append((table, column, cut))
    return due


def _trim(session: Session, table: str, column: str, tag_id: int, cut: int, limit: int) -> int:
    """Delete at most ``limit`` of the tag's rows before ``cut``, oldest first; the number deleted."""
    params = {"tag": tag_id, "cut": cut, "skip": limit}
    bound = session.execute(text(  # the (limit + 1)th row's time, if there are that many: delete only before it
        f"SELECT {column} FROM {table} WHERE tag_id = :tag AND {column} < :cut "
        f"ORDER BY {column} LIMIT 1 OFFSET :skip"), params).scalar()
    if bound is not None:
        params["cut"] = bound
    result = session.execute(text(f"DELETE FROM {table} WHERE tag_id = :tag AND {column} < :cut"),
                             params)
    return result.rowcount  # type: ignore[attr-defined, no-any-return]


@dataclass
class Sweep:
    now_ms: int
    after_tag: int = 0  # tags up to this one are done
    deleted: int = 0


class Retention:
    """Deletes what the policies no longer keep, ``rows`` rows over at most ``tags`` tags per ``step``."""

    def __init__(self, engine: Engine, *, tags: int = 2000, rows: int = 2000, repeat_s: float = 300.0) -> None:
        self.engine, self.tags, self.rows, self.repeat_s = engine, tags, max(1, rows), repeat_s
        self._sweep: Sweep | None = None
        self._ended = -float("inf")  # when the last pass ended (monotonic)

    @property
    def running(self) -> bool:
        return self._sweep is not None

    def due(self) -> bool:
        return self._sweep is not None or time.monotonic() - self._ended > self.repeat_s

    def step(self, now_ms: int | None = None) -> int:
        """One short transaction's worth of deletion; the number of rows deleted."""
        if self._sweep is None:
            self._sweep = Sweep(int(time.time() * 1000) if now_ms is None else now_ms)
        sweep, budget = self._sweep, self.rows
        with Session(self.engine) as session, session.begin():
            policies = load(session)
            ids = _next_tags(session, sweep.after_tag, self.tags)
            equipment = plant.equipment_of_tags(session, ids) if policies.equipment else {}
            groups: dict[tuple[str, str, int], list[int]] = {}
            for tag_id in ids:
                policy, _ = policies.of(tag_id, equipment.get(tag_id))
                cuts = {"raw": raw_cut(sweep.now_ms, policy), "rollup": rollup_cut(sweep.now_ms, policy)}
                for table, column, horizon in TABLES:
                    if (cut := cuts[horizon]) is not None:
                        groups.setdefault((table, column, cut), []).append(tag_id)
            due = _due(session, groups)
            for tag_id in ids:
                for table, column, cut in due.get(tag_id, ()):
                    if budget:
                        budget -= _trim(session, table, column, tag_id, cut, budget)
                if not budget:  # this tag may have more: it is the next step's first
                    break
                sweep.after_tag = tag_id
            done = self.rows - budget
            sweep.deleted += done
            if len(ids) < self.tags and budget:  # every tag is done
                disk.record(session, int(time.time() * 1000))
                self._sweep, self._ended = None, time.monotonic()
                if sweep.deleted:
                    log.info("retention: a pass deleted %d rows past their horizons", sweep.deleted)
        return done

    def run(self, now_ms: int | None = None) -> int:
        """Steps until a whole pass is done (tests, benchmarks); the number of rows deleted."""
        deleted = self.step(now_ms)
        while self._sweep is not None:
            deleted += self.step(now_ms)
        return deleted
