"""The activity section, computed in SQL: volumes, action mix, top detections over time, latency, policies in force."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from audit import query
from audit.records import from_us
from audit.schema import DECISION_TABLE

if TYPE_CHECKING:
    from audit.store import AuditStore

D = DECISION_TABLE.c
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


def activity(store: AuditStore, filters: query.Filters) -> Activity:
    """The activity of the decisions matching ``filters`` (every aggregate grouped by the database)."""
    total = store.count(filters)
    by_action = {k[0]: n for k, n in store.counts("action", filters=filters).items()}
    by_stage = {k[0]: n for k, n in store.counts("stage", filters=filters).items()}
    by_app = {str(k[0] or "(none)"): n for k, n in store.counts("application", filters=filters).items()}
    by_day = [(d, a, n) for (d, a), n in store.counts("day", "action", filters=filters).items()]
    detections = Counter({(s, lb): n for (s, lb), n in store.counts("scanner", "label", filters=filters).items()})
    top = [(s, lb, n) for (s, lb), n in detections.most_common(TOP_DETECTIONS)]
    keep = {(s, lb) for s, lb, _ in top[:5]}
    series = [
        (d, f"{s}:{lb}", n)
        for (d, s, lb), n in store.counts("day", "scanner", "label", filters=filters).items()
        if (s, lb) in keep
    ]
    latency = {f"p{p:g}": v for p, v in store.latency_percentiles(filters, percentiles=(50, 90, 99)).items()}
    with store.engine.connect() as conn:
        stmt = select(func.min(D.ts_us), func.max(D.ts_us)).select_from(DECISION_TABLE)
        where = query._conditions(conn, filters)
        first, last = conn.execute(stmt.where(*where) if where else stmt).one()
    return Activity(
        total,
        by_action,
        by_stage,
        by_app,
        by_day,
        top,
        series,
        latency,
        from_us(first) if first is not None else None,
        from_us(last) if last is not None else None,
    )


def policies_in_force(store: AuditStore, filters: query.Filters) -> list[PolicyInForce]:
    """Policy versions that took the matching decisions, most used first."""
    stmt = select(D.policy_name, D.policy_version, D.policy_sha256, func.count(), func.min(D.ts_us), func.max(D.ts_us))
    stmt = stmt.group_by(D.policy_name, D.policy_version, D.policy_sha256)
    documents = {p.sha256: p.document for p in store.list_policies()}
    with store.engine.connect() as conn:
        where = query._conditions(conn, filters)
        rows = conn.execute(stmt.where(*where) if where else stmt).all()
    return sorted(
        (PolicyInForce(n, v, sha, c, from_us(a), from_us(b), documents.get(sha, "")) for n, v, sha, c, a, b in rows),
        key=lambda p: -p.decisions,
    )
