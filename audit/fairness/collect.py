"""Gather the fairness cells from the audit log: counts per (group, ground truth, prediction), grouped in SQL.

Each pass reads the decisions once. Subject attributes come from the per-day rollup for whole days (``audit.rollups``)
and are grouped by the database (``json_extract`` / ``->>``) for the rest, all attributes in one ``GROUP BY``; reviewer
labels (the ground truth) are applied on top from the feedback table, which is far smaller than the log, so the
decision scan needs no join. Identity groups need the text: the redacted ``safe_text`` is streamed once and matched
against the lexicon for every category at the same time.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import repeat
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, literal, not_, select

from audit import query, rollups, subjects
from audit.fairness.lexicon import IdentityGroup, IdentityLexicon
from audit.outcomes import GROUND_TRUTH_PREFIX, INLINE_TRUTH_KEY, as_bool, guard_truth, parse_ground_truth
from audit.query import json_field
from audit.records import to_us
from audit.schema import DECISION_TABLE, FEEDBACK_TABLE
from guards.types import Action

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
D = DECISION_TABLE.c
FB = FEEDBACK_TABLE.c
NO_MENTION = "(none)"
"""The group of decisions whose text mentions no group of the category."""
MAX_GROUPS = 50
"""Subject attributes with more distinct values than this are identifiers, not groups; they are skipped."""
SAMPLE = 10_000
"""Most recent decisions read to discover subject attributes and outcome keys."""
_SEVERITY = {a.value: a.severity for a in Action}
Key = tuple[str, int, int]
Progress = Callable[[int], None]
"""Called with the number of rows just streamed (e.g. a tqdm bar's ``update``)."""
Coded = tuple[int, int] | None
"""``(y_true, y_pred)`` of a decision, or None when its prediction is not usable."""


def _where(conn: Connection, stmt: Select[Any], filters: query.Filters, *extra: ColumnElement[bool]) -> Select[Any]:
    where = [*query._conditions(conn, filters), *extra]  # the store's own filter semantics
    return stmt.where(and_(*where)) if where else stmt


@dataclass(frozen=True, slots=True)
class Discovered:
    """Subject attributes usable as groups and boolean outcome keys, from the most recent decisions."""

    attributes: tuple[str, ...]
    outcomes: tuple[str, ...]


def discover(conn: Connection, filters: query.Filters, *, sample: int = SAMPLE) -> Discovered:
    """Subject attributes with at most ``MAX_GROUPS`` values, and outcome keys with boolean values, seen in the
    ``sample`` most recent matching decisions (identifiers such as user ids are left out)."""
    # "+ 0" keeps the planner off the time index, so it walks seq backwards and stops after ``sample`` rows.
    window = [(D.ts_us + 0) >= to_us(filters.start)] if filters.start else []
    window += [(D.ts_us + 0) < to_us(filters.end)] if filters.end else []
    rest = replace(filters, start=None, end=None)
    stmt = _where(conn, select(D.subject, D.outcome), rest, *window).order_by(D.seq.desc()).limit(sample)
    values: dict[str, set[str]] = {}
    outcomes: set[str] = set()
    for subject, outcome in conn.execute(stmt):
        for k, v in json.loads(subject or "{}").items():
            values.setdefault(k, set()).add(str(v))
        outcomes.update(k for k, v in json.loads(outcome or "{}").items() if isinstance(v, bool))
    attributes = tuple(sorted(k for k, v in values.items() if len(v) <= MAX_GROUPS))
    return Discovered(attributes, tuple(sorted(outcomes - {INLINE_TRUTH_KEY})))


def _label_filter(outcome: str | None) -> ColumnElement[bool]:
    if outcome is None:
        return not_(FB.label.startswith(GROUND_TRUTH_PREFIX))
    return FB.label.startswith(f"{GROUND_TRUTH_PREFIX}{outcome}=")


def _latest_labels(outcome: str | None) -> Any:
    """Per decision id, its latest guard label (``outcome`` None) or ground-truth label of ``outcome``."""
    latest = select(FB.decision_id, func.max(FB.seq).label("seq")).where(_label_filter(outcome))
    latest_sq = latest.group_by(FB.decision_id).subquery("latest")
    fb = FEEDBACK_TABLE.alias("fbl")
    return select(latest_sq.c.decision_id, fb.c.label).join(fb, fb.c.seq == latest_sq.c.seq).subquery("fb")


def _prediction(conn: Connection, outcome: str | None) -> list[ColumnElement[Any]]:
    """The prediction column and the inline ground-truth column (a NULL literal for the guard)."""
    if outcome is None:
        return [D.action, literal(None).label("inline")]
    return [json_field(conn, D.outcome, outcome), json_field(conn, D.outcome, INLINE_TRUTH_KEY)]


def coder(outcome: str | None) -> Callable[[Any, Any, str | None], Coded]:
    """A memoised function (prediction, inline truth, label) → ``(y_true, y_pred)`` codes for the guard or a model."""
    memo: dict[tuple[Any, Any, str | None], Coded] = {}

    def code(pred: Any, inline: Any, label: str | None) -> Coded:
        key = (pred, inline, label)
        if key in memo:
            return memo[key]
        result: Coded
        if outcome is None:
            severity = _SEVERITY[pred]
            truth = guard_truth(label, severity > 0)
            result = (-1 if truth is None else int(truth)), severity
        else:
            predicted = as_bool(pred)
            recorded = parse_ground_truth(label, outcome)
            truth = as_bool(inline) if recorded is None else recorded
            result = None if predicted is None else ((-1 if truth is None else int(truth)), int(predicted))
        memo[key] = result
        return result

    return code


def _frame(counts: Mapping[Key, int]) -> pd.DataFrame:
    """The cells as a frame, in a fixed order: the bootstrap then does not depend on the order rows were read in."""
    import pandas as pd

    rows = sorted((g, t, p, w) for (g, t, p), w in counts.items() if w)
    return pd.DataFrame(rows, columns=["group", "y_true", "y_pred", "weight"])


def subject_cells(
    conn: Connection, attributes: Sequence[str], *, outcomes: Sequence[str | None], filters: query.Filters
) -> dict[str | None, dict[str, tuple[pd.DataFrame, int]]]:
    """Per decision maker of ``outcomes`` (None: the guard; else a model outcome key): the cells per subject
    attribute and how many decisions lack it, for every attribute and maker at once.

    Whole days come from the per-day rollup where it holds the attributes and filters (``rollups.subject_counts``),
    the rest from one grouped scan by (attributes, each maker's prediction and inline truth); the labelled
    decisions, found from the feedback side, are then moved to the cells of their label.
    """
    keys = [json_field(conn, D.subject, a) for a in attributes]
    predictions = [_prediction(conn, outcome) for outcome in outcomes]

    def scan(f: query.Filters, by_day: bool) -> Counter[tuple[Any, ...]]:
        day = [D.ts_us // query.DAY_US] if by_day else []
        columns = [*day, *keys, *(c for pred in predictions for c in pred)]
        stmt = _where(conn, select(*columns, func.count()).select_from(DECISION_TABLE), f)
        found: Counter[tuple[Any, ...]] = Counter()
        for *row, n in conn.execute(stmt.group_by(*columns)):
            lead, values, pairs = row[: len(day)], row[len(day) : len(day) + len(keys)], row[len(day) + len(keys) :]
            for outcome, predicted, inline in zip(outcomes, pairs[::2], pairs[1::2], strict=True):
                if outcome is None or predicted is not None:  # a model's cells leave out decisions without its outcome
                    made = subjects.prediction(outcome, predicted, inline)
                    cells = {(*lead, outcome, a, _text(v), *made): n for a, v in zip(attributes, values, strict=True)}
                    found.update(cells)
        return found

    base = rollups.subject_counts(conn, attributes, outcomes, filters, scan)
    return {
        outcome: _labelled_cells(conn, attributes, keys, pred, outcome, filters, base)
        for outcome, pred in zip(outcomes, predictions, strict=True)
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _labelled_cells(
    conn: Connection,
    attributes: Sequence[str],
    keys: Sequence[ColumnElement[Any]],
    pred: Sequence[ColumnElement[Any]],
    outcome: str | None,
    filters: query.Filters,
    base: Counter[subjects.Cell],
) -> dict[str, tuple[pd.DataFrame, int]]:
    """``subject_cells`` of one maker: ``base`` holds every maker's cells without labels."""
    extra = [] if outcome is None else [pred[0].isnot(None)]
    fb = _latest_labels(outcome)
    over_stmt = select(*keys, *pred, fb.c.label, func.count()).select_from(
        fb.join(DECISION_TABLE, D.id == fb.c.decision_id)
    )
    over_stmt = _where(conn, over_stmt, filters, *extra).group_by(*keys, *pred, fb.c.label)
    cells: Counter[tuple[Any, ...]] = Counter()
    for (maker, *cell), n in base.items():
        if maker == outcome:
            cells[(*cell, None)] += n
    labelled: list[tuple[Any, ...]] = [tuple(r) for r in conn.execute(over_stmt)]
    for record in labelled:
        values, (predicted, inline, label, n) = record[: len(keys)], record[len(keys) :]
        made = subjects.prediction(outcome, predicted, inline)
        for a, v in zip(attributes, values, strict=True):
            cells[(a, _text(v), *made, None)] -= n
            cells[(a, _text(v), *made, label)] += n
    code = coder(outcome)
    counts: dict[str, Counter[Key]] = {a: Counter() for a in attributes}
    missing = dict.fromkeys(attributes, 0)
    for (attribute, value, predicted, inline, label), n in cells.items():
        coded = code(predicted, inline, label)
        if value is None or coded is None:
            missing[attribute] += n
        else:
            counts[attribute][(value, *coded)] += n
    return {a: (_frame(counts[a]), missing[a]) for a in attributes}


def identity_cells(
    conn: Connection,
    lexicon: IdentityLexicon,
    *,
    outcome: str | None,
    filters: query.Filters,
    progress: Progress | None = None,
) -> dict[str, pd.DataFrame]:
    """Cells per lexicon category: one group per identity group the text mentions, plus ``(none)``.

    A decision that mentions two groups of a category counts in both. The texts are streamed once for every
    category and counted by (groups mentioned, prediction, inline truth); the labelled decisions, found from the
    feedback side, are then moved to the counts of their label. ``progress`` is called with the number of rows of
    each streamed chunk.
    """
    pred = _prediction(conn, outcome)
    extra = [] if outcome is None else [pred[0].isnot(None)]
    find = lexicon.find
    raw: Counter[tuple[frozenset[IdentityGroup], Any, Any, str | None]] = Counter()
    stmt = _where(conn, select(D.safe_text, *pred), filters, *extra)
    for chunk in _chunks(conn, stmt, progress):
        texts, predicted, inline = zip(*chunk, strict=True)
        raw.update(zip(map(find, texts), predicted, inline, repeat(None)))  # no Python loop per row
    fb = _latest_labels(outcome)
    labelled = select(D.safe_text, *pred, fb.c.label).select_from(fb.join(DECISION_TABLE, D.id == fb.c.decision_id))
    for text, predicted, inline, label in conn.execute(_where(conn, labelled, filters, *extra)):
        found = find(text)
        raw[(found, predicted, inline, None)] -= 1
        raw[(found, predicted, inline, label)] += 1
    code = coder(outcome)
    counts: dict[str, Counter[Key]] = {c: Counter() for c in lexicon.categories}
    for (found, predicted, inline, label), n in raw.items():
        coded = code(predicted, inline, label)
        if coded is None or not n:
            continue
        by_category: dict[str, list[str]] = {}
        for g in found:
            by_category.setdefault(g.category, []).append(g.group)
        for category, counter in counts.items():
            for group in by_category.get(category, (NO_MENTION,)):
                counter[(group, *coded)] += n
    return {c: _frame(counter) for c, counter in counts.items()}


def _chunks(conn: Connection, stmt: Select[Any], progress: Progress | None) -> Iterable[Sequence[Any]]:
    """The rows of ``stmt`` as plain tuples in large chunks (the driver's own rows: no per-row wrapping)."""
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    dbapi: Any = conn.connection.dbapi_connection
    # PostgreSQL: a server-side (named) cursor, so a million rows never sit in memory at once.
    cursor = dbapi.cursor(name="ombud_identity") if conn.dialect.name == "postgresql" else dbapi.cursor()
    try:
        if compiled.positiontup is not None:
            cursor.execute(str(compiled), tuple(params[k] for k in compiled.positiontup))
        else:
            cursor.execute(str(compiled), params)
        while chunk := cursor.fetchmany(50_000):
            if progress is not None:
                progress(len(chunk))
            yield chunk
    finally:
        cursor.close()
