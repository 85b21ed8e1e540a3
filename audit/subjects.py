"""Subject-attribute cells of the decision log, the form ``audit_rollup_subject`` counts them in per day.

A decision counts once per subject attribute it has, for the guard (prediction: its action) and for each model
outcome key it holds (prediction and inline ground truth kept as far as fairness reads them: true, false, or
neither), plus once per maker as a total (attribute None): the decisions lacking an attribute are the total less
the attribute's values. Values are read by the database's own JSON functions, exactly as the live scan of
``audit.fairness.collect`` reads them. An attribute with a name or value longer than ``MAX_TEXT`` characters or
more than ``MAX_VALUES`` distinct values is left out for good (``audit_rollup_skipped``); so are outcome keys with
long names and the inline ground-truth key itself: fairness reads those from the log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, true
from sqlalchemy.dialects.postgresql import JSONB

from audit.outcomes import INLINE_TRUTH_KEY, as_bool
from audit.query import json_field
from audit.schema import DECISION_TABLE, ROLLUP_SKIPPED_TABLE, ROLLUP_SUBJECT_TABLE

D = DECISION_TABLE.c
T = ROLLUP_SUBJECT_TABLE.c
MAX_TEXT = 64
"""Longest attribute name, attribute value or outcome key the rollup holds."""
MAX_VALUES = 1_000
"""Most distinct values of an attribute the rollup holds (more: an identifier, read from the log)."""
CELL = ("maker", "attribute", "value", "prediction", "truth")
"""The rollup columns of a cell, after the day and dimensions."""
Cell = tuple[str | None, str | None, str | None, str, str | None]
"""``(maker, attribute, value, prediction, truth)``: maker None is the guard; value None, the attribute lacking."""
_TEXT = {True: "true", False: "false", None: ""}


def prediction(maker: str | None, predicted: Any, inline: Any) -> tuple[str, str | None]:
    """A maker's prediction and inline truth as cells keep them: the guard's action as it is; a model's prediction
    as "true", "false" or "" (not boolean), its inline truth as "true", "false" or None."""
    if maker is None:
        return predicted, None
    truth = as_bool(inline)
    return _TEXT[as_bool(predicted)], None if truth is None else _TEXT[truth]


def rolled_up(conn: Connection, attributes: Iterable[str], makers: Iterable[str | None]) -> bool:
    """Does the rollup hold every one of ``attributes`` for every one of ``makers``?"""
    names = list(attributes)
    if any(len(a) > MAX_TEXT for a in names) or any(_left_out(m) for m in makers if m is not None):
        return False
    skipped = select(ROLLUP_SKIPPED_TABLE.c.attribute).where(ROLLUP_SKIPPED_TABLE.c.attribute.in_(names))
    return conn.execute(skipped.limit(1)).first() is None


def answers(rows: Iterable[Sequence[Any]], attributes: Sequence[str]) -> Counter[Cell]:
    """Rollup rows ``(*CELL, decisions)`` as cells of ``attributes``, the totals turned into lacking counts."""
    out: Counter[Cell] = Counter()
    for maker, attribute, value, predicted, truth, total in map(tuple, rows):
        n = int(total)  # PostgreSQL sums to numeric
        if attribute is None:
            out.update({(maker, a, None, predicted, truth): n for a in attributes})
        else:
            out[(maker, attribute, value, predicted, truth)] += n
            out[(maker, attribute, None, predicted, truth)] -= n
    return out


def delta(
    conn: Connection, key: Sequence[ColumnElement[Any]], where: Sequence[ColumnElement[bool]], sign: int
) -> Counter[tuple[Any, ...]]:
    """The cells of the decisions ``where`` selects, keyed ``(*key, *Cell)`` (key: the day and dimensions), each
    counted ``sign`` times (+1 to add, -1 to take out).

    The decisions are grouped by their subject and outcome texts, and only the distinct texts are read as JSON.
    """
    width = len(key)
    columns = (*key, D.action, D.subject, D.outcome)
    grouped = conn.execute(select(*columns, func.count()).where(*where).group_by(*columns)).all()
    attributes = {
        doc: [(None, None)] + [(name, str(value)) for name, value in pairs if value is not None]
        for doc, pairs in _pairs(conn, D.subject, where).items()
    }
    models = {
        doc: [(name, *prediction(name, value, inline)) for name, value, inline in found if _held(name, value)]
        for doc, found in _pairs(conn, D.outcome, where, INLINE_TRUTH_KEY).items()
    }
    cells: Counter[tuple[Any, ...]] = Counter()
    for row in grouped:
        k, (action, subject, outcome, n) = row[:width], row[width:]
        for maker in ((None, action, None), *models.get(outcome, ())):
            for attribute in attributes.get(subject, [(None, None)]):
                cells[(*k, maker[0], *attribute, *maker[1:])] += sign * n
    return cells


def _pairs(
    conn: Connection, column: Any, where: Sequence[ColumnElement[bool]], *fields: str
) -> dict[str, list[tuple[Any, ...]]]:
    """Each distinct JSON object text of ``column`` among the decisions ``where`` selects, with its ``(key, value)``
    pairs and the values of ``fields``, all read by the database as ``json_field`` reads them."""
    docs = select(column.label("doc")).where(*where).distinct().subquery()
    each = _each(conn, docs.c.doc)
    extra = [json_field(conn, docs.c.doc, name) for name in fields]
    found: dict[str, list[tuple[Any, ...]]] = {}
    for doc, *pair in conn.execute(select(docs.c.doc, each.c.key, each.c.value, *extra).join_from(docs, each, true())):
        found.setdefault(doc, []).append(tuple(pair))
    return found


def _held(maker: str, predicted: Any) -> bool:
    """Does the rollup hold this model outcome value? (A model's cells leave out decisions without its outcome.)"""
    return predicted is not None and not _left_out(maker)


def _left_out(maker: str) -> bool:
    return maker == INLINE_TRUTH_KEY or len(maker) > MAX_TEXT


def _each(conn: Connection, column: Any) -> Any:
    """The (key, value) pairs of a JSON object column as a table, values read as ``json_field`` reads them."""
    if conn.dialect.name == "postgresql":
        return func.jsonb_each_text(column.cast(JSONB)).table_valued("key", "value")
    return func.json_each(column).table_valued("key", "value")


def bound(conn: Connection, cells: Counter[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    """``cells`` (keys ending in a ``Cell``) without the attributes the rollup leaves out; newly left-out ones are
    recorded and their stored rows deleted."""
    skipped = set(conn.scalars(select(ROLLUP_SKIPPED_TABLE.c.attribute)))
    values: dict[str, set[str]] = {}
    for *_, attribute, value, _, _ in cells:
        if attribute is not None and attribute not in skipped:
            values.setdefault(attribute, set()).add(value)
    new = {a for a, found in values.items() if len(a) > MAX_TEXT or any(len(v) > MAX_TEXT for v in found)}
    stored = select(T.attribute, T.value).distinct().where(T.attribute.in_(values.keys() - new))
    for attribute, value in conn.execute(stored):
        values[attribute].add(value)
    new |= {a for a, found in values.items() if len(found) > MAX_VALUES}
    if recorded := [{"attribute": a} for a in sorted(new) if len(a) <= MAX_TEXT]:
        conn.execute(insert(ROLLUP_SKIPPED_TABLE), recorded)
        conn.execute(delete(ROLLUP_SUBJECT_TABLE).where(T.attribute.in_(new)))
    return Counter({k: n for k, n in cells.items() if k[-4] not in skipped | new})
