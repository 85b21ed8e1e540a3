"""Thin entry points: fairness of the guard (or of a model outcome) by subject attribute or identity category."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from audit import query
from audit.fairness import collect
from audit.fairness.frame import FairnessReport, Thresholds, compute
from audit.fairness.lexicon import IdentityLexicon, load_lexicon
from audit.fairness.rates import GUARD_PARITY, GUARD_RATES, MODEL_PARITY, MODEL_RATES

if TYPE_CHECKING:
    import pandas as pd

    from audit.store import AuditStore

log = logging.getLogger(__name__)
IDENTITY_PREFIX = "identity."
"""Features named ``identity.<category>`` group decisions by the identity groups their text mentions."""
SUBJECT_PREFIX = "subject."
"""Features named ``subject.<attribute>`` (or just ``<attribute>``) group decisions by a subject attribute."""


def fairness_report(
    store: AuditStore,
    *,
    by: str,
    outcome: str | None = None,
    filters: query.Filters | None = None,
    thresholds: Thresholds | None = None,
    lexicon: IdentityLexicon | None = None,
    n_boot: int = 500,
    seed: int = 0,
) -> FairnessReport:
    """Fairness of the guard's actions (``outcome`` None) or of the model outcome ``outcome`` across groups of ``by``.

    ``by`` is a subject attribute (``"sex"`` or ``"subject.sex"``) or an identity category mentioned in the text
    (``"identity.religion"``). ``thresholds`` default to the policy defaults (``Thresholds()``).
    """
    return fairness_reports(
        store,
        by=[by],
        outcome=outcome,
        filters=filters,
        thresholds=thresholds,
        lexicon=lexicon,
        n_boot=n_boot,
        seed=seed,
    )[0]


def fairness_reports(
    store: AuditStore,
    *,
    by: Sequence[str] | None = None,
    outcome: str | None = None,
    filters: query.Filters | None = None,
    thresholds: Thresholds | None = None,
    lexicon: IdentityLexicon | None = None,
    n_boot: int = 500,
    seed: int = 0,
    progress: collect.Progress | None = None,
) -> list[FairnessReport]:
    """One report per feature of ``by``; by default every subject attribute seen and every identity category
    that some text mentions.

    Identity categories share one pass over the text, subject attributes one grouped scan. Without ``by``, the
    attributes are those of the ``collect.SAMPLE`` most recent decisions with at most ``collect.MAX_GROUPS`` values
    (identifiers are skipped).
    """
    f = filters or query.Filters()
    t = thresholds or Thresholds()
    lex = lexicon or load_lexicon()
    rates, parity = (GUARD_RATES, GUARD_PARITY) if outcome is None else (MODEL_RATES, MODEL_PARITY)
    subject = "guard" if outcome is None else f"model:{outcome}"
    with store.engine.connect() as conn:
        if by is None:
            attrs = collect.discover(conn, f).attributes
            features = [SUBJECT_PREFIX + a for a in attrs] + [IDENTITY_PREFIX + c for c in lex.categories]
        else:
            features = [b if b.startswith((IDENTITY_PREFIX, SUBJECT_PREFIX)) else SUBJECT_PREFIX + b for b in by]
        identity: dict[str, pd.DataFrame] = {}
        if any(x.startswith(IDENTITY_PREFIX) for x in features):
            identity = collect.identity_cells(conn, lex, outcome=outcome, filters=f, progress=progress)
        subjects = [x.removeprefix(SUBJECT_PREFIX) for x in features if not x.startswith(IDENTITY_PREFIX)]
        by_subject = collect.subject_cells(conn, subjects, outcome=outcome, filters=f) if subjects else {}
        out = []
        for feature in features:
            missing = 0
            if feature.startswith(IDENTITY_PREFIX):
                category = feature.removeprefix(IDENTITY_PREFIX)
                if category not in identity:
                    raise ValueError(f"unknown identity category {category!r}; choose from {', '.join(lex.categories)}")
                cells = identity[category]
                if by is None and set(cells["group"]) <= {collect.NO_MENTION}:
                    continue  # no text mentions the category: nothing to compare
            else:
                cells, missing = by_subject[feature.removeprefix(SUBJECT_PREFIX)]
            out.append(
                compute(
                    cells,
                    feature=feature,
                    subject=subject,
                    rates=rates,
                    parity=parity,
                    thresholds=t,
                    n_boot=n_boot,
                    seed=seed,
                    missing=missing,
                )
            )
    return out
