"""Read side for reports and the dashboard: filters, SQL aggregates, paged listing, pandas export."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, Text, cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from audit.records import AuditRecord, Feedback, from_us, record_from_row, to_us
from audit.schema import (
    CHAIN_TABLE,
    CHECKPOINT_TABLE,
    DECISION_TABLE,
    FEEDBACK_TABLE,
    FINDING_TABLE,
    POLICY_TABLE,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

D = DECISION_TABLE.c
F = FINDING_TABLE.c
FB = FEEDBACK_TABLE.c
DAY_US = 86_400_000_000
"""Microseconds in a day: ``ts_us // DAY_US`` is the UTC day number (days since 1970-01-01)."""
GROUPS = ("day", "action", "stage", "application", "model", "policy", "policy_version", "scanner", "label")
"""What ``counts`` can group by."""
UNKNOWN_GROUP = "cannot group audit counts by {name!r}; choose from " + ", ".join(GROUPS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Filters:
    """Which decisions a query covers; every field narrows the selection, ``None`` means any.

    ``start`` is inclusive and ``end`` exclusive (naive datetimes are UTC). ``action``/``stage`` take one value or a
    tuple. ``scanner``/``label`` keep decisions with a finding of that scanner/label. ``subject`` keeps decisions
    whose subject attributes include all the given key/value pairs. ``after_seq`` keeps decisions written after
    the one with that chain sequence number.
    """

    start: datetime | None = None
    end: datetime | None = None
    action: str | tuple[str, ...] | None = None
    stage: str | tuple[str, ...] | None = None
    scanner: str | None = None
    label: str | None = None
    policy: str | None = None
    policy_sha256: str | None = None
    application: str | None = None
    model: str | None = None
    session_id: str | None = None
    subject: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    after_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of decisions, newest first, and the cursor of the next page (None at the end)."""

    items: tuple[AuditRecord, ...]
    next_before: int | None


def _one_or_many(column: Any, value: str | tuple[str, ...]) -> ColumnElement[bool]:
    return column.in_(value) if isinstance(value, tuple) else column == value


def dimension_conditions(columns: ReadOnlyColumnCollection[str, Any], f: Filters) -> list[ColumnElement[bool]]:
    """The conditions of ``f`` on a decision's dimensions (action, stage, policy, application, model).

    ``columns`` is the decision table's or a rollup table's (they name these columns alike).
    """
    where: list[ColumnElement[bool]] = []
    if f.action is not None:
        where.append(_one_or_many(columns.action, f.action))
    if f.stage is not None:
        where.append(_one_or_many(columns.stage, f.stage))
    for name, value in (
        ("policy_name", f.policy),
        ("policy_sha256", f.policy_sha256),
        ("application", f.application),
        ("model", f.model),
    ):
        if value is not None:
            where.append(columns[name] == value)
    return where


def _conditions(conn: Connection, f: Filters, *, findings_joined: bool = False) -> list[ColumnElement[bool]]:
    """The SQL conditions of ``f``; with ``findings_joined`` the scanner/label filters apply to the joined findings."""
    where = dimension_conditions(D, f)
    if f.start is not None:
        where.append(D.ts_us >= to_us(f.start))
    if f.end is not None:
        where.append(D.ts_us < to_us(f.end))
    if f.after_seq is not None:
        where.append(D.seq > f.after_seq)
    if f.session_id is not None:
        where.append(D.session_id == f.session_id)
    if findings_joined:
        where += [F[name] == getattr(f, name) for name in ("scanner", "label") if getattr(f, name) is not None]
    elif f.scanner is not None or f.label is not None:
        sub = [F.decision_seq == D.seq]
        if f.scanner is not None:
            sub.append(F.scanner == f.scanner)
        if f.label is not None:
            sub.append(F.label == f.label)
        where.append(exists(select(1).where(*sub)))
    for key, value in f.subject.items():
        where.append(json_text(conn, D.subject, key) == str(value))
    return where


def json_field(conn: Connection, column: Any, key: str) -> ColumnElement[Any]:
    """The value of ``key`` in a JSON text column, on SQLite and PostgreSQL.

    SQLite reads a quoted path label as written (no escapes): the stored JSON spells keys in plain UTF-8, so
    ``$."género"`` finds ``género``; a key holding a quote or a backslash, which no path label can spell, is looked
    up with ``json_each``.
    """
    if conn.dialect.name == "postgresql":
        return column.cast(JSONB)[key].astext
    if '"' not in key and "\\" not in key:
        return func.json_extract(column, f'$."{key}"')
    each = func.json_each(column).table_valued("key", "value")
    return select(each.c.value).where(each.c.key == key).scalar_subquery()


def json_text(conn: Connection, column: Any, key: str) -> ColumnElement[str]:
    """``json_field`` as text on both databases: SQLite reads the JSON number ``5`` as the integer 5, PostgreSQL's
    ``->>`` as the text ``'5'``, so a subject filter ``{"num": "5"}`` matches alike on both."""
    value = json_field(conn, column, key)
    return value if conn.dialect.name == "postgresql" else cast(value, Text)


def _filtered(conn: Connection, stmt: Select[Any], f: Filters) -> Select[Any]:
    where = _conditions(conn, f)
    return stmt.where(*where) if where else stmt


def counts(conn: Connection, by: Sequence[str], f: Filters) -> dict[tuple[Any, ...], int]:
    """Decision counts grouped by ``by`` (see ``GROUPS``), computed in SQL; ``day`` keys are ``date``s.

    Grouped by ``scanner`` or ``label``, a decision counts once per scanner/label it has a finding of, and the
    ``scanner``/``label`` filters keep those findings (``counts("label", filters=Filters(scanner="pii"))``).
    """
    columns: list[Any] = []
    join_findings = False
    for name in by:
        if name == "day":
            columns.append(D.ts_us // DAY_US)
        elif name in ("scanner", "label"):
            columns.append(F[name])
            join_findings = True
        elif name in ("action", "stage", "application", "model", "policy_version"):
            columns.append(D[name])
        elif name == "policy":
            columns.append(D.policy_name)
        else:
            raise ValueError(UNKNOWN_GROUP.format(name=name))
    where = _conditions(conn, f, findings_joined=join_findings)
    if join_findings and not where and all(name in ("scanner", "label") for name in by):
        source: Any = FINDING_TABLE  # findings alone suffice: no need to touch the decisions
        total = func.count(F.decision_seq.distinct())
    elif join_findings:
        source = DECISION_TABLE.join(FINDING_TABLE, F.decision_seq == D.seq)
        total = func.count(D.seq.distinct())
    else:
        source, total = DECISION_TABLE, func.count()
    stmt = select(*columns, total).select_from(source).where(*where).group_by(*columns).order_by(*columns)
    out: dict[tuple[Any, ...], int] = {}
    for row in conn.execute(stmt):
        key = tuple(day_date(v) if name == "day" else v for name, v in zip(by, row[:-1], strict=True))
        out[key] = row[-1]
    return out


def day_date(day_number: int) -> date:
    """The UTC date of a day number (``ts_us // DAY_US``)."""
    return from_us(int(day_number) * DAY_US).date()


def latencies(conn: Connection, f: Filters) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers and latencies (ms) of the matching decisions, as two arrays."""
    import numpy as np

    rows = conn.execute(_filtered(conn, select(D.ts_us // DAY_US, D.latency_ms), f)).all()
    days = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return days, np.fromiter((r[1] for r in rows), dtype=float, count=len(rows))


def feedback(conn: Connection, decision_id: str | None) -> list[Feedback]:
    """Reviewer feedback, oldest first (for one decision, or all)."""
    stmt = select(FEEDBACK_TABLE).order_by(FB.seq)
    if decision_id is not None:
        stmt = stmt.where(FB.decision_id == decision_id)
    return [
        Feedback(r.id, r.decision_id, r.label, r.reviewer, r.note, from_us(r.ts_us), r.seq) for r in conn.execute(stmt)
    ]


def get_decision(conn: Connection, decision_id: str) -> AuditRecord | None:
    """One stored decision with its feedback, or None."""
    row = conn.execute(select(DECISION_TABLE).where(D.id == decision_id)).first()
    return None if row is None else record_from_row(row, tuple(feedback(conn, decision_id)))


def page(conn: Connection, f: Filters, *, limit: int, before_seq: int | None) -> Page:
    """Up to ``limit`` decisions older than ``before_seq`` (keyset paging on the chain sequence)."""
    stmt = _filtered(conn, select(DECISION_TABLE), f)
    if before_seq is not None:
        stmt = stmt.where(D.seq < before_seq)
    rows = conn.execute(stmt.order_by(D.seq.desc()).limit(limit + 1)).all()
    items = tuple(record_from_row(r) for r in rows[:limit])
    return Page(items, items[-1].seq if len(rows) > limit else None)


_FRAME_COLUMNS = (
    "seq", "id", "ts_us", "stage", "action", "request_id", "session_id", "application", "model", "policy_name",
    "policy_version", "policy_sha256", "latency_ms", "original_length", "subject", "outcome",
)  # fmt: skip


def to_frame(conn: Connection, f: Filters, *, scores: bool) -> pd.DataFrame:
    """Matching decisions as a DataFrame ordered by ``seq``.

    Columns: the record fields (``timestamp`` as UTC datetimes), ``subject.<key>`` and ``outcome.<key>`` for every
    attribute seen, ``feedback`` (the latest reviewer label or None), ``n_findings``, and with ``scores`` a
    ``score.<scanner>`` column per scanner.
    """
    import pandas as pd

    feedback_label = select(FB.label).where(FB.decision_id == D.id).order_by(FB.seq.desc()).limit(1)
    n_findings = select(func.count()).where(F.decision_seq == D.seq)
    cols: list[Any] = [D[c] for c in _FRAME_COLUMNS] + [
        feedback_label.scalar_subquery().label("feedback"),
        n_findings.scalar_subquery().label("n_findings"),
    ]
    if scores:
        cols.append(D.verdicts)
    stmt = _filtered(conn, select(*cols), f).order_by(D.seq)
    rows = [tuple(r) for r in conn.execute(stmt)]  # plain tuples: pandas probes Row objects very slowly
    names = [*_FRAME_COLUMNS, "feedback", "n_findings"] + (["verdicts"] if scores else [])
    frame = pd.DataFrame.from_records(rows, columns=names)
    frame.insert(2, "timestamp", pd.to_datetime(frame.pop("ts_us"), unit="us", utc=True))
    parts = [frame.drop(columns=["subject", "outcome"] + (["verdicts"] if scores else []))]
    parts.append(_expand(frame["subject"], "subject.", json.loads))
    parts.append(_expand(frame["outcome"], "outcome.", json.loads))
    if scores:
        parts.append(_expand(frame["verdicts"], "score.", lambda s: {v[0]: v[1] for v in json.loads(s)}))
    return pd.concat(parts, axis=1)


def _expand(column: pd.Series, prefix: str, parse: Callable[[str], dict[str, Any]]) -> pd.DataFrame:
    """One column per key of the JSON objects in ``column``, parsing each distinct string once."""
    import pandas as pd

    codes, uniques = pd.factorize(column)
    parsed = pd.DataFrame.from_records([parse(u) for u in uniques])
    expanded = parsed.take(codes) if len(parsed.columns) else pd.DataFrame(index=range(len(codes)))
    expanded.index = column.index
    return expanded.add_prefix(prefix)


def stats(conn: Connection) -> dict[str, Any]:
    """Row counts, time span, chain heads and checkpoints of the store."""
    span = conn.execute(select(func.min(D.ts_us), func.max(D.ts_us), func.count())).one()
    heads = {r.name: {"seq": r.seq, "hash": r.hash} for r in conn.execute(select(CHAIN_TABLE))}
    return {
        "decisions": span[2],
        "first": from_us(span[0]).isoformat() if span[0] is not None else None,
        "last": from_us(span[1]).isoformat() if span[1] is not None else None,
        "findings": conn.scalar(select(func.count()).select_from(FINDING_TABLE)),
        "feedback": conn.scalar(select(func.count()).select_from(FEEDBACK_TABLE)),
        "policies": conn.scalar(select(func.count()).select_from(POLICY_TABLE)),
        "checkpoints": conn.scalar(select(func.count()).select_from(CHECKPOINT_TABLE)),
        "chains": heads,
    }
