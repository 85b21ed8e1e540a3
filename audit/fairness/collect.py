"""Gather the fairness cells from the audit log: counts per (group, prediction, truth), grouped in SQL.

Subject attributes are grouped by the database (``json_extract`` / ``->>``); identity groups need the text, so the
redacted ``safe_text`` is streamed once and matched against the lexicon for every category at the same time.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, not_, select
from sqlalchemy.dialects.postgresql import JSONB

from audit import query
from audit.fairness.lexicon import IdentityLexicon
from audit.outcomes import GROUND_TRUTH_PREFIX, INLINE_TRUTH_KEY, as_bool, guard_truth, parse_ground_truth
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
_SEEN_MAX = 100_000
"""Texts whose identity groups are remembered while streaming (repeated texts are matched once)."""
_SEVERITY = {a.value: a.severity for a in Action}
Key = tuple[str, int, int]
Row = tuple[Any, ...]


def json_field(conn: Connection, column: Any, key: str) -> ColumnElement[Any]:
    """The value of ``key`` in a JSON text column, on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        return column.cast(JSONB)[key].astext
    return func.json_extract(column, "$." + json.dumps(key))


def json_keys(conn: Connection, column: Any, filters: query.Filters) -> list[str]:
    """Keys of the JSON object column ``column`` (``D.subject``, ``D.outcome``) over the matching decisions."""
    where = query._conditions(conn, filters)
    if conn.dialect.name == "postgresql":
        keys = func.jsonb_object_keys(column.cast(JSONB))
        stmt = select(keys.label("key")).select_from(DECISION_TABLE).distinct()
        return sorted(conn.scalars(stmt.where(*where) if where else stmt))
    each = func.json_each(column).table_valued("key")
    stmt = select(each.c.key).select_from(DECISION_TABLE).join(each, column.isnot(None)).distinct()
    return sorted(conn.scalars((stmt.where(*where) if where else stmt).where(column != "{}")))


def _latest_feedback(conn: Connection, outcome: str | None) -> Any:
    """Per decision, the latest guard label (``outcome`` None) or ground-truth label of ``outcome``."""
    cond = (
        not_(FB.label.startswith(GROUND_TRUTH_PREFIX))
        if outcome is None
        else FB.label.startswith(f"{GROUND_TRUTH_PREFIX}{outcome}=")
    )
    latest = select(FB.decision_id, func.max(FB.seq).label("seq")).where(cond).group_by(FB.decision_id).subquery()
    label = FEEDBACK_TABLE.alias("fbl")
    return select(latest.c.decision_id, label.c.label).join(label, label.c.seq == latest.c.seq).subquery("fb")


def _select(conn: Connection, columns: list[Any], outcome: str | None, filters: query.Filters) -> Select[Any]:
    """``columns`` plus the prediction/truth columns of the guard (``outcome`` None) or of a model outcome."""
    fb = _latest_feedback(conn, outcome)
    if outcome is None:
        extra = [D.action, fb.c.label]
    else:
        extra = [json_field(conn, D.outcome, outcome), json_field(conn, D.outcome, INLINE_TRUTH_KEY), fb.c.label]
    stmt = select(*columns, *extra).select_from(DECISION_TABLE.outerjoin(fb, fb.c.decision_id == D.id))
    where = query._conditions(conn, filters)
    if outcome is not None:
        where.append(json_field(conn, D.outcome, outcome).isnot(None))
    return stmt.where(and_(*where)) if where else stmt


def _coder(outcome: str | None) -> Callable[[Row], tuple[int, int] | None]:
    """Turns the trailing prediction/truth columns of a row into ``(y_true, y_pred)`` codes (None: not usable)."""
    if outcome is None:

        def guard(row: Row) -> tuple[int, int] | None:
            severity = _SEVERITY[row[-2]]
            truth = guard_truth(row[-1], severity > 0)
            return (-1 if truth is None else int(truth)), severity

        return guard

    def model(row: Row) -> tuple[int, int] | None:
        pred = as_bool(row[-3])
        if pred is None:
            return None
        truth = parse_ground_truth(row[-1], outcome)
        truth = as_bool(row[-2]) if truth is None else truth
        return (-1 if truth is None else int(truth)), int(pred)

    return model


def _frame(counts: Mapping[Key, int]) -> pd.DataFrame:
    import pandas as pd

    rows = [(g, t, p, w) for (g, t, p), w in counts.items()]
    return pd.DataFrame(rows, columns=["group", "y_true", "y_pred", "weight"])


def subject_cells(
    conn: Connection, attribute: str, *, outcome: str | None, filters: query.Filters
) -> tuple[pd.DataFrame, int]:
    """Cells by subject attribute ``attribute`` (grouped in SQL), and how many decisions lack the attribute."""
    group = json_field(conn, D.subject, attribute)
    stmt = _select(conn, [group], outcome, filters)
    inner = stmt.subquery()
    cols = list(inner.c)
    grouped = select(*cols, func.count()).group_by(*cols)
    code = _coder(outcome)
    counts: Counter[Key] = Counter()
    missing = 0
    for *row, n in conn.execute(grouped):
        coded = code(tuple(row))
        if row[0] is None or coded is None:
            missing += n
            continue
        counts[(str(row[0]), *coded)] += n
    return _frame(counts), missing


def identity_cells(
    conn: Connection,
    lexicon: IdentityLexicon,
    *,
    outcome: str | None,
    filters: query.Filters,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Cells per lexicon category: one group per identity group the text mentions, plus ``(none)``.

    A decision that mentions two groups of a category counts in both. The texts are streamed once for every
    category; a text seen recently is not matched again (repetitive traffic), and the many texts that mention no
    identity group cost one counter update.
    """
    code = _coder(outcome)
    counts: dict[str, Counter[Key]] = {c: Counter() for c in lexicon.categories}
    unmentioned: Counter[tuple[int, int]] = Counter()
    seen: dict[str, dict[str, list[str]]] = {}
    result = conn.execution_options(yield_per=50_000).execute(_select(conn, [D.safe_text], outcome, filters))
    rows: Iterable[Any] = progress(result) if progress else result
    for row in rows:
        coded = code(tuple(row))
        if coded is None:
            continue
        text = row[0] or ""
        found = seen.get(text)
        if found is None:
            found = {}
            for g in lexicon.find(text):
                found.setdefault(g.category, []).append(g.group)
            if len(seen) >= _SEEN_MAX:
                seen.clear()
            seen[text] = found
        if not found:
            unmentioned[coded] += 1
            continue
        for category, counter in counts.items():
            for group in found.get(category, (NO_MENTION,)):
                counter[(group, *coded)] += 1
    for counter in counts.values():
        for (t, p), n in unmentioned.items():
            counter[(NO_MENTION, t, p)] += n
    return {c: _frame(counter) for c, counter in counts.items()}


def distinct_values(conn: Connection, attribute: str, filters: query.Filters, *, limit: int = MAX_GROUPS + 1) -> int:
    """How many distinct values ``attribute`` takes (counting at most ``limit``)."""
    field = json_field(conn, D.subject, attribute)
    stmt = select(field).select_from(DECISION_TABLE).where(field.isnot(None)).distinct()
    where = query._conditions(conn, filters)
    stmt = stmt.where(*where) if where else stmt
    return int(conn.scalar(select(func.count()).select_from(stmt.limit(limit).subquery())) or 0)
