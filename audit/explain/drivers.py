"""The global view of one classifier scanner: which tokens most often drive its flags over a time window."""

from __future__ import annotations

import logging
import string
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from audit import query
from audit.explain.decision import explain_decision
from audit.explain.shap_text import DEFAULT_MAX_EVALS, Scorer

if TYPE_CHECKING:
    from audit.store import AuditStore

log = logging.getLogger(__name__)
INTERVENED = ("flag", "redact", "block")


@dataclass(frozen=True, slots=True)
class Driver:
    """A token among the top positive attributions of ``count`` explained decisions, with its mean SHAP value there."""

    token: str
    count: int
    mean_value: float


@dataclass(frozen=True)
class Drivers:
    """Tokens that most often drive ``scanner``'s flags: from the ``explained`` most recent of ``decisions`` hits."""

    scanner: str
    since: datetime | None
    until: datetime | None
    decisions: int
    explained: int
    tokens: tuple[Driver, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "scanner": self.scanner,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "decisions": self.decisions,
            "explained": self.explained,
            "tokens": [{"token": d.token, "count": d.count, "mean_value": d.mean_value} for d in self.tokens],
        }


def global_drivers(
    store: AuditStore,
    scanner: str,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    sample: int = 30,
    top: int = 20,
    per_decision: int = 5,
    max_evals: int = DEFAULT_MAX_EVALS,
    scorers: Mapping[str, Scorer] | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> Drivers:
    """Explain the ``sample`` most recent decisions in [since, until) where ``scanner`` fired a rule, and count the
    tokens among each one's ``per_decision`` strongest positive attributions (explanations are cached per decision).
    """
    filters = query.Filters(start=since, end=until, scanner=scanner, action=INTERVENED)
    total = store.count(filters)
    chosen: list[str] = []
    before: int | None = None
    while len(chosen) < sample:
        page = store.decisions(filters, limit=max(sample * 2, 50), before_seq=before)
        chosen += [r.id for r in page.items if any(rule.scanner == scanner for rule in r.rules)][: sample - len(chosen)]
        if page.next_before is None:
            break
        before = page.next_before
    counts: dict[str, int] = defaultdict(int)
    sums: dict[str, float] = defaultdict(float)
    explained = 0
    ids: Iterable[str] = progress(chosen) if progress else chosen
    for decision_id in ids:
        for s in explain_decision(store, decision_id, scanner=scanner, max_evals=max_evals, scorers=scorers).scanners:
            if s.method != "shap" or s.error:
                continue
            explained += 1
            for t in s.top(per_decision):
                token = t.token.strip().strip(string.punctuation).lower()
                if token:
                    counts[token] += 1
                    sums[token] += t.value
    ranked = sorted(counts, key=lambda k: (-counts[k], -sums[k]))[:top]
    tokens = tuple(Driver(k, counts[k], sums[k] / counts[k]) for k in ranked)
    return Drivers(scanner, since, until, total, explained, tokens)
