"""The activity section, grouped in SQL: volumes, action mix, top detections over time, latency, policies in force."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, func, select

from audit import query
from audit.records import from_us
from audit.schema import DECISION_TABLE, FINDING_TABLE

if TYPE_CHECKING:
    from audit.store import AuditStore

D = DECISION_TABLE.c
F = FINDING_TABLE.c
_DAY_US = 86_400_000_000
LATENCY_BINS_PER_MS = 10
"""Latency percentiles are read from a histogram grouped in SQL, at this many bins per millisecond."""
TOP_DETECTIONS = 10
"""How many (scanner, label) pairs the report lists; the daily series follows the top five."""


@dataclass(frozen=True)
class Activity:
    """Volumes and mix of the decisions in the report window."""

    total: int
    by_action: dict[str, int]
    by_stage: dict[str, int]
    by_application: dict[str, int]
    by_day: list[tuple[date, str, int]]
    top_detections: list[tuple[str, str, int]]
    detections_by_day: list[tuple[date, str, int]]
    latency_ms: dict[str, float]
    first: datetime | None = None
    last: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "total": self.total,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "by_action": self.by_action,
            "by_stage": self.by_stage,
            "by_application": self.by_application,
            "by_day": [{"day": d.isoformat(), "action": a, "decisions": n} for d, a, n in self.by_day],
            "top_detections": [{"scanner": s, "label": lb, "decisions": n} for s, lb, n in self.top_detections],
            "detections_by_day": [
                {"day": d.isoformat(), "detection": k, "decisions": n} for d, k, n in self.detections_by_day
            ],
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True, slots=True)
class PolicyInForce:
    """A policy version that took decisions in the window, with its decision count and its first/last use there."""

    name: str
    version: str
    sha256: str
    decisions: int
    first: datetime
    last: datetime
    document: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (without the document)."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "decisions": self.decisions,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
        }


def _where(conn: Any, stmt: Any, filters: query.Filters) -> Any:
    where = query._conditions(conn, filters)  # the store's own filter semantics
    return stmt.where(*where) if where else stmt


def activity(store: AuditStore, filters: query.Filters) -> Activity:
    """The activity of the decisions matching ``filters``."""
    return summarise(store, filters)[0]


def policies_in_force(store: AuditStore, filters: query.Filters) -> list[PolicyInForce]:
    """Policy versions that took the matching decisions, most used first."""
    return summarise(store, filters)[1]


def summarise(store: AuditStore, filters: query.Filters) -> tuple[Activity, list[PolicyInForce], dict[str, set[str]]]:
    """The activity of the decisions matching ``filters``, the policy versions in force, and the scanners that fired
    per policy version (for the explanations) — from two grouped scans: decisions, and findings joined to decisions.
    """
    day = (D.ts_us // _DAY_US).label("day")
    decision_cols = [day, D.action, D.stage, D.application, D.policy_name, D.policy_version, D.policy_sha256]
    with store.engine.connect() as conn:
        stmt = select(*decision_cols, func.count(), func.min(D.ts_us), func.max(D.ts_us)).select_from(DECISION_TABLE)
        rows = conn.execute(_where(conn, stmt, filters).group_by(*decision_cols)).all()
        finding_cols = [day, F.scanner, F.label, D.action, D.policy_sha256]
        joined = DECISION_TABLE.join(FINDING_TABLE, F.decision_seq == D.seq)
        stmt = select(*finding_cols, func.count(D.seq.distinct())).select_from(joined)
        found = conn.execute(_where(conn, stmt, filters).group_by(*finding_cols)).all()
        bins = (D.latency_ms * LATENCY_BINS_PER_MS).cast(Integer)
        histogram = conn.execute(_where(conn, select(bins, func.count()), filters).group_by(bins)).all()
    by_action: Counter[str] = Counter()
    by_stage: Counter[str] = Counter()
    by_app: Counter[str] = Counter()
    by_day: Counter[tuple[date, str]] = Counter()
    policies: dict[tuple[str, str, str], list[int]] = {}
    for d, action, stage, app, name, version, sha, n, first, last in rows:
        by_action[action] += n
        by_stage[stage] += n
        by_app[app or "(none)"] += n
        by_day[(_date(d), action)] += n
        seen = policies.setdefault((name, version, sha), [0, first, last])
        seen[0], seen[1], seen[2] = seen[0] + n, min(seen[1], first), max(seen[2], last)
    detections: Counter[tuple[str, str]] = Counter()
    per_day: Counter[tuple[date, str, str]] = Counter()
    fired: dict[str, set[str]] = {}
    for d, scanner, label, action, sha, n in found:
        detections[(scanner, label)] += n
        per_day[(_date(d), scanner, label)] += n
        if action != "allow":
            fired.setdefault(sha, set()).add(scanner)
    top = [(s, lb, n) for (s, lb), n in detections.most_common(TOP_DETECTIONS)]
    keep = {(s, lb) for s, lb, _ in top[:5]}
    series = sorted((d, f"{s}:{lb}", n) for (d, s, lb), n in per_day.items() if (s, lb) in keep)
    latency = _percentiles(histogram, (50, 90, 99))
    firsts = [v[1] for v in policies.values()]
    lasts = [v[2] for v in policies.values()]
    result = Activity(
        total=sum(by_action.values()),
        by_action=dict(by_action.most_common()),
        by_stage=dict(by_stage.most_common()),
        by_application=dict(by_app.most_common()),
        by_day=sorted((d, a, n) for (d, a), n in by_day.items()),
        top_detections=top,
        detections_by_day=series,
        latency_ms=latency,
        first=from_us(min(firsts)) if firsts else None,
        last=from_us(max(lasts)) if lasts else None,
    )
    documents = {p.sha256: p.document for p in store.list_policies()} if policies else {}
    in_force = sorted(
        (
            PolicyInForce(name, version, sha, n, from_us(first), from_us(last), documents.get(sha, ""))
            for (name, version, sha), (n, first, last) in policies.items()
        ),
        key=lambda p: -p.decisions,
    )
    return result, in_force, fired


def _percentiles(histogram: Sequence[Any], percentiles: Sequence[float]) -> dict[str, float]:
    """Percentiles (nearest rank) from a latency histogram of ``1 / LATENCY_BINS_PER_MS`` ms bins (bin midpoints)."""
    total = sum(n for _, n in histogram)
    if not total:
        return {}
    out, seen, ordered = {}, 0, sorted(histogram)
    targets = sorted(percentiles)
    i = 0
    for low, n in ordered:
        seen += n
        while i < len(targets) and seen >= targets[i] / 100 * total:
            out[f"p{targets[i]:g}"] = float((low + 0.5) / LATENCY_BINS_PER_MS)
            i += 1
    return out


def _date(day_number: int) -> date:
    return from_us(int(day_number) * _DAY_US).date()
