"""Thin entry points: fairness of the guard (or of a model outcome) by subject attribute or identity category."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from audit import chain, query
from audit.fairness import collect
from audit.fairness.frame import FairnessReport, Thresholds, compute
from audit.fairness.lexicon import IdentityLexicon, load_lexicon
from audit.fairness.rates import GUARD_PARITY, GUARD_RATES, MODEL_PARITY, MODEL_RATES

if TYPE_CHECKING:
    from sqlalchemy import Connection

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
    return fairness_reports_for(
        store,
        {outcome: by},
        filters=filters,
        thresholds=thresholds,
        lexicon=lexicon,
        n_boot=n_boot,
        seed=seed,
        progress=progress,
    )[outcome]


def fairness_reports_for(
    store: AuditStore,
    makers: Mapping[str | None, Sequence[str] | None],
    *,
    filters: query.Filters | None = None,
    thresholds: Thresholds | None = None,
    lexicon: IdentityLexicon | None = None,
    n_boot: int = 500,
    seed: int = 0,
    progress: collect.Progress | None = None,
) -> dict[str | None, list[FairnessReport]]:
    """``fairness_reports`` of several decision makers at once: ``makers`` maps None (the guard) or a model outcome
    key to its ``by``. One grouped scan gives the subject attributes of every maker; each maker with identity
    features takes one pass over the text (``progress`` follows those passes).
    """
    f = filters or query.Filters()
    lex = lexicon or load_lexicon()
    t = thresholds or Thresholds()
    with chain.snapshot(store.engine) as conn:  # the rollups, their watermark and the tail seen alike
        features = _features(conn, makers, lex, f)
        subjects = (x for wanted in features.values() for x in wanted if not x.startswith(IDENTITY_PREFIX))
        attributes = list(dict.fromkeys(x.removeprefix(SUBJECT_PREFIX) for x in subjects))
        by_subject = collect.subject_cells(conn, attributes, outcomes=list(makers), filters=f) if attributes else {}
        out: dict[str | None, list[FairnessReport]] = {}
        for maker, wanted in features.items():
            cells = {SUBJECT_PREFIX + a: found for a, found in by_subject.get(maker, {}).items()}
            if any(x.startswith(IDENTITY_PREFIX) for x in wanted):
                identity = collect.identity_cells(conn, lex, outcome=maker, filters=f, progress=progress)
                cells |= {IDENTITY_PREFIX + c: (frame, 0) for c, frame in identity.items()}
            rates, parity = (GUARD_RATES, GUARD_PARITY) if maker is None else (MODEL_RATES, MODEL_PARITY)
            subject = "guard" if maker is None else f"model:{maker}"
            out[maker] = []
            for feature in wanted:
                if feature not in cells:
                    category = feature.removeprefix(IDENTITY_PREFIX)
                    raise ValueError(f"unknown identity category {category!r}; choose from {', '.join(lex.categories)}")
                frame, missing = cells[feature]
                unmentioned = feature.startswith(IDENTITY_PREFIX) and set(frame["group"]) <= {collect.NO_MENTION}
                if unmentioned and makers[maker] is None:
                    continue  # no text mentions the category: nothing to compare
                out[maker].append(
                    compute(
                        frame,
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


def _features(
    conn: Connection, makers: Mapping[str | None, Sequence[str] | None], lexicon: IdentityLexicon, f: query.Filters
) -> dict[str | None, list[str]]:
    """Each maker's features, prefixed; ``by`` None: every subject attribute seen and every identity category."""
    seen: tuple[str, ...] | None = None
    out = {}
    for maker, by in makers.items():
        if by is None:
            seen = collect.discover(conn, f).attributes if seen is None else seen
            out[maker] = [SUBJECT_PREFIX + a for a in seen] + [IDENTITY_PREFIX + c for c in lexicon.categories]
        else:
            out[maker] = [b if b.startswith((IDENTITY_PREFIX, SUBJECT_PREFIX)) else SUBJECT_PREFIX + b for b in by]
    return out
