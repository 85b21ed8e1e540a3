"""Per-day rollups of the decision log: aggregates over any window read thousands of rows, not millions.

Tables (``audit.schema``) count the decisions of each UTC day and set of dimensions (stage, action, application,
model, policy): ``audit_rollup_day`` with a latency histogram, ``audit_rollup_finding`` per finding scanner and label,
``audit_rollup_subject`` per subject attribute value and decision maker (``audit.subjects``). They are exact: the
log is append-only and chained, so the rollups count precisely the decisions up to a watermark ``seq``, and a query
adds the decisions after it (the open tail) live. ``refresh`` moves the watermark to the head; ``forget`` takes
decisions out before a purge deletes them.

A query's time range is cut into whole days, served by the rollups plus the tail, and the partial days at its edges,
served live. Filters the rollups cannot answer (subject attributes, session, a scanner without its label, ...) run
on the log as before, and so do the subject attributes the rollup leaves out. Latency percentiles come from
log-spaced histogram buckets (``BUCKET_ERROR``).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Table, delete, func, insert, or_, select, update

from audit import query, subjects
from audit.query import DAY_US, Filters
from audit.records import from_us, to_us
from audit.schema import (
    CHAIN_TABLE,
    DECISION_TABLE,
    FINDING_TABLE,
    ROLLUP_DAY_TABLE,
    ROLLUP_FINDING_TABLE,
    ROLLUP_STATE_TABLE,
    ROLLUP_SUBJECT_TABLE,
)

if TYPE_CHECKING:
    import numpy as np

D = DECISION_TABLE.c
F = FINDING_TABLE.c
S = ROLLUP_STATE_TABLE.c
DIMENSIONS = ("stage", "action", "application", "model", "policy_name", "policy_version", "policy_sha256")
"""Decision columns the rollups are keyed by, besides the day."""
_GROUP_COLUMN = {"policy": "policy_name"}  # counts() group names that differ from the column name
_STATE = "decision"
_EPOCH = date(1970, 1, 1)

BUCKETS_PER_OCTAVE = 8
MIN_BUCKET, MAX_BUCKET = -10 * BUCKETS_PER_OCTAVE, 24 * BUCKETS_PER_OCTAVE
"""Latencies under 2**-10 ms (1 µs) or from 2**24 ms (4.7 h) on share the first or last bucket."""
BUCKET_ERROR = 2 ** (1 / (2 * BUCKETS_PER_OCTAVE)) - 1
"""Largest relative error of a latency percentile (≈ 4.4 %): a value is read as its bucket's geometric middle."""
REFRESH_AFTER = 10_000
"""Decisions after the watermark beyond which the store refreshes the rollups before answering."""
CHUNK = 100_000
"""Decisions counted per refresh transaction."""


def buckets(latency_ms: np.ndarray) -> np.ndarray:
    """The histogram bucket of each latency: ``floor(8 · log2(ms))``, clipped to ``MIN_BUCKET..MAX_BUCKET``."""
    import numpy as np

    scaled = np.floor(BUCKETS_PER_OCTAVE * np.log2(np.maximum(latency_ms, 2.0**-10)))
    return np.clip(scaled, MIN_BUCKET, MAX_BUCKET).astype(np.int64)


def bucket_value(bucket: int) -> float:
    """The latency (ms) a bucket stands for: the geometric middle of its bounds."""
    return float(2 ** ((bucket + 0.5) / BUCKETS_PER_OCTAVE))


def percentiles(histogram: Mapping[int, int], points: Sequence[float]) -> dict[float, float]:
    """Percentiles (0-100) of a latency histogram, interpolated between ranks as ``numpy.percentile`` does.

    Each is within ``BUCKET_ERROR`` of the exact percentile of the latencies behind the histogram; {} when empty.
    """
    import numpy as np

    if not histogram:
        return {}
    keys = sorted(histogram)
    cumulative = np.cumsum([histogram[k] for k in keys])

    def at_rank(rank: int) -> float:
        return bucket_value(keys[int(np.searchsorted(cumulative, rank, side="right"))])

    out: dict[float, float] = {}
    for p in points:
        h = p / 100 * (int(cumulative[-1]) - 1)
        low, high = at_rank(math.floor(h)), at_rank(math.ceil(h))
        out[p] = low + (h - math.floor(h)) * (high - low)
    return out


# -- maintenance ----------------------------------------------------------------------------------------------


def watermark(conn: Connection, *, lock: bool = False) -> int:
    """The ``seq`` of the last decision counted in the rollups (``lock``: hold it for this write transaction)."""
    stmt = select(S.seq).where(S.name == _STATE)
    return int(conn.execute(stmt.with_for_update() if lock else stmt).scalar_one())


def lag(conn: Connection) -> int:
    """How many decisions (by sequence number) the rollups are behind the head of the chain."""
    head = conn.scalar(select(CHAIN_TABLE.c.seq).where(CHAIN_TABLE.c.name == "decision")) or 0
    return max(0, head - watermark(conn))


def refresh(conn: Connection, *, limit: int = CHUNK) -> int:
    """Count up to ``limit`` decisions after the watermark into the rollups and move it on; returns how many.

    Runs in the caller's write transaction (which it serialises with other refreshes and purges); call it until it
    returns 0 to catch up, one transaction per call so that writers get their turn.
    """
    mark = watermark(conn, lock=True)
    first = conn.scalar(select(func.min(D.seq)).where(D.seq > mark))  # after a purge, not always mark + 1
    if first is None:
        return 0
    head = conn.scalar(select(func.max(D.seq)).where(D.seq >= first, D.seq < first + limit))
    added = _apply(conn, mark, head, +1)
    conn.execute(update(ROLLUP_STATE_TABLE).where(S.name == _STATE).values(seq=head))
    return added


def forget(conn: Connection, through_seq: int) -> int:
    """Take the decisions up to ``through_seq`` out of the rollups (call before deleting them); returns how many."""
    return _apply(conn, 0, min(through_seq, watermark(conn, lock=True)), -1)


def _apply(conn: Connection, low: int, high: int, sign: int) -> int:
    """Add (``sign`` +1) or subtract (-1) the decisions with ``low < seq <= high`` to the rollups of their days."""
    import numpy as np

    in_range = (D.seq > low, D.seq <= high)
    key = (D.ts_us // DAY_US, *(D[c] for c in DIMENSIONS))
    rows = conn.execute(select(*key, D.latency_ms).where(*in_range)).all()
    if not rows:
        return 0
    decisions: Counter[tuple[Any, ...]] = Counter()
    latency: Counter[tuple[Any, ...]] = Counter()
    found = buckets(np.fromiter((r[-1] for r in rows), dtype=float, count=len(rows))).tolist()
    for row, bucket in zip(rows, found, strict=True):
        decisions[tuple(row[:-1])] += sign
        latency[(*row[:-1], bucket)] += sign
    finding_key = (*key, F.scanner, F.label)
    joined = DECISION_TABLE.join(FINDING_TABLE, F.decision_seq == D.seq)
    stmt = select(*finding_key, func.count(D.seq.distinct())).select_from(joined).where(*in_range)
    findings = Counter({tuple(r[:-1]): sign * r[-1] for r in conn.execute(stmt.group_by(*finding_key))})
    cells = subjects.bound(conn, subjects.delta(conn, key, in_range, sign))
    _merge(conn, decisions, latency, findings, cells)
    return len(rows)


def _merge(
    conn: Connection,
    decisions: Counter[tuple[Any, ...]],
    latency: Counter[tuple[Any, ...]],
    findings: Counter[tuple[Any, ...]],
    cells: Counter[tuple[Any, ...]],
) -> None:
    """Rewrite the rollup rows of the days in the deltas (keys start with the day): stored rows plus deltas."""
    touched = sorted({k[0] for k in decisions})
    day_t = ROLLUP_DAY_TABLE
    names = ["day", *DIMENSIONS]
    for row in conn.execute(
        select(*(day_t.c[c] for c in names), day_t.c.decisions, day_t.c.latency).where(day_t.c.day.in_(touched))
    ):
        key = tuple(row[:-2])
        decisions[key] += row[-2]
        latency.update({(*key, b): n for b, n in json.loads(row[-1])})
    histograms: dict[tuple[Any, ...], list[list[int]]] = {}
    for (*dims, bucket), n in sorted(latency.items(), key=lambda item: item[0][-1]):
        if n > 0:
            histograms.setdefault(tuple(dims), []).append([bucket, n])
    conn.execute(delete(day_t).where(day_t.c.day.in_(touched)))
    day_rows = [
        {**dict(zip(names, key, strict=True)), "decisions": n, "latency": json.dumps(histograms.get(key, []))}
        for key, n in decisions.items()
        if n > 0
    ]
    if day_rows:
        conn.execute(insert(day_t), day_rows)
    _rewrite(conn, ROLLUP_FINDING_TABLE, [*names, "scanner", "label"], findings, touched)
    _rewrite(conn, ROLLUP_SUBJECT_TABLE, [*names, *subjects.CELL], cells, touched)


def _rewrite(
    conn: Connection, table: Table, names: list[str], delta: Counter[tuple[Any, ...]], days: list[int]
) -> None:
    """Rewrite the rows of ``days`` of a rollup of counts keyed by the columns ``names``: stored rows plus ``delta``."""
    total = Counter(delta)
    stored = select(*(table.c[c] for c in names), table.c.decisions).where(table.c.day.in_(days))
    for row in conn.execute(stored):
        total[tuple(row[:-1])] += row[-1]
    conn.execute(delete(table).where(table.c.day.in_(days)))
    if rows := [{**dict(zip(names, key, strict=True)), "decisions": n} for key, n in total.items() if n > 0]:
        conn.execute(insert(table), rows)


# -- answers ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Window:
    """A query's range cut into whole days ``first <= day < end`` (None: unbounded) and partial-day edges."""

    first: int | None
    end: int | None
    edges: tuple[Filters, ...]

    def days(self, column: Any) -> list[ColumnElement[bool]]:
        """Conditions keeping the whole days on a day-number column."""
        where = []
        if self.first is not None:
            where.append(column >= self.first)
        if self.end is not None:
            where.append(column < self.end)
        return where

    def covers(self, day: int | date) -> bool:
        """Is ``day`` (a day number or date) one of the whole days?"""
        number = (day - _EPOCH).days if isinstance(day, date) else day
        return (self.first is None or number >= self.first) and (self.end is None or number < self.end)


def _window(f: Filters) -> _Window | None:
    """The whole days of ``f``'s range and its edges, or None when it holds no whole day."""
    start = None if f.start is None else to_us(f.start)
    end = None if f.end is None else to_us(f.end)
    first = None if start is None else -(-start // DAY_US)
    last = None if end is None else end // DAY_US
    if first is not None and last is not None and first >= last:
        return None
    edges = []
    if start is not None and first is not None and start < first * DAY_US:
        edges.append(replace(f, end=from_us(first * DAY_US)))
    if end is not None and last is not None and last * DAY_US < end:
        edges.append(replace(f, start=from_us(last * DAY_US)))
    return _Window(first, last, tuple(edges))


def _table(by: Iterable[str], f: Filters) -> Table | None:
    """The rollup that answers a grouping under ``f``, or None when only the log can."""
    if f.subject or f.session_id is not None or f.after_seq is not None:
        return None
    if any(name not in query.GROUPS for name in by):
        return None
    per_finding = [n for n in ("scanner", "label") if n in by or getattr(f, n) is not None]
    if not per_finding:
        return ROLLUP_DAY_TABLE
    return ROLLUP_FINDING_TABLE if len(per_finding) == 2 else None  # one finding column free: distinct counts


def _conditions(table: Table, f: Filters, window: _Window) -> list[ColumnElement[bool]]:
    where = [*query.dimension_conditions(table.c, f), *window.days(table.c.day)]
    for name in ("scanner", "label"):
        if getattr(f, name) is not None:
            where.append(table.c[name] == getattr(f, name))
    return where


def _tail(f: Filters, mark: int) -> Filters:
    # no time bounds: the tail is found on the seq (or a (column, seq)) index; whole days are kept afterwards
    return replace(f, start=None, end=None, after_seq=mark)


def counts(conn: Connection, by: Sequence[str], f: Filters) -> dict[tuple[Any, ...], int]:
    """``query.counts`` answered from the rollups where they can (same keys and numbers)."""
    table = _table(by, f)
    window = None if table is None else _window(f)
    if table is None or window is None:
        return query.counts(conn, by, f)
    columns = [table.c[_GROUP_COLUMN.get(name, name)] for name in by]
    stmt = select(*columns, func.sum(table.c.decisions)).where(*_conditions(table, f, window)).group_by(*columns)
    total: Counter[tuple[Any, ...]] = Counter()
    for row in conn.execute(stmt):
        if row[-1]:
            total[tuple(query.day_date(v) if n == "day" else v for n, v in zip(by, row[:-1], strict=True))] += row[-1]
    _add_live(conn, f, window, total, lambda g, by_day: query.counts(conn, ("day", *by) if by_day else by, g))
    return dict(sorted(total.items(), key=lambda item: [(v is not None, v) for v in item[0]]))


Live = Callable[[Filters, bool], Mapping[tuple[Any, ...], int]]
"""Counts on the log under some filters, keyed by the day first when asked (``by_day``)."""


def _add_live(conn: Connection, f: Filters, window: _Window, total: Counter[Any], live: Live) -> None:
    """Add what the rollups do not hold: the tail after the watermark (in the whole days) and the partial days."""
    for (day, *key), n in live(_tail(f, watermark(conn)), True).items():
        if window.covers(day):
            total[tuple(key)] += n
    for edge in window.edges:
        total.update(live(edge, False))


def subject_counts(
    conn: Connection, attributes: Sequence[str], makers: Sequence[str | None], f: Filters, live: Live
) -> Counter[subjects.Cell]:
    """The subject cells (``subjects.Cell``) of ``attributes`` for ``makers`` under ``f``: whole days from the
    rollup where it holds them, the rest from ``live`` (the same cells counted on the log)."""
    rolled = _table((), f) is ROLLUP_DAY_TABLE and subjects.rolled_up(conn, attributes, makers)
    window = _window(f) if rolled else None
    if window is None:
        return Counter(live(f, False))
    t = ROLLUP_SUBJECT_TABLE.c
    cell = [t[c] for c in subjects.CELL]
    models = [m for m in makers if m is not None]
    wanted = [
        or_(t.attribute.in_(attributes), t.attribute.is_(None)),
        or_(t.maker.in_(models), t.maker.is_(None)) if None in makers else t.maker.in_(models),
    ]
    where = [*_conditions(ROLLUP_SUBJECT_TABLE, f, window), *wanted]
    total = subjects.answers(
        conn.execute(select(*cell, func.sum(t.decisions)).where(*where).group_by(*cell)), attributes
    )
    _add_live(conn, f, window, total, live)
    return total


def latency_percentiles(conn: Connection, f: Filters, points: Sequence[float]) -> dict[float, float]:
    """Percentiles (0-100) of decision latency in ms from histograms (see ``BUCKET_ERROR``); {} when none match."""

    def live(g: Filters, by_day: bool) -> Counter[tuple[Any, ...]]:
        days, values = query.latencies(conn, g)
        found = buckets(values).tolist()
        return Counter(zip(days.tolist(), found, strict=True) if by_day else ((b,) for b in found))

    table = _table((), f)
    window = None if table is not ROLLUP_DAY_TABLE else _window(f)
    if window is None:
        return percentiles({b: n for (b,), n in live(f, False).items()}, points)
    histogram: Counter[tuple[Any, ...]] = Counter()
    stmt = select(ROLLUP_DAY_TABLE.c.latency).where(*_conditions(ROLLUP_DAY_TABLE, f, window))
    for stored in conn.scalars(stmt):
        for bucket, n in json.loads(stored):
            histogram[(bucket,)] += n
    _add_live(conn, f, window, histogram, live)
    return percentiles({b: n for (b,), n in histogram.items()}, points)
