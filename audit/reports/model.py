"""``Report``: everything an audit report shows, as one object that every export format renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.explain import DecisionExplanation, Drivers
from audit.fairness import FairnessFinding, FairnessReport, Thresholds
from audit.reports.activity import Activity, PolicyInForce
from audit.reports.compliance import ComplianceItem

EMPTY_LOG = "No decisions were logged in the report window."
"""What a report on an empty window says."""


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """The audit chain's verification result at report time (``ok`` is None when verification was skipped), and the
    decision chain's head."""

    ok: bool | None
    head_seq: int | None
    head_hash: str | None
    chains: tuple[dict[str, Any], ...]
    message: str

    @property
    def verdict(self) -> str:
        """``intact``, ``NOT INTACT`` or ``not verified``, for summaries."""
        return "not verified" if self.ok is None else "intact" if self.ok else "NOT INTACT"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "ok": self.ok,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "chains": list(self.chains),
            "message": self.message,
        }


@dataclass(frozen=True)
class Report:
    """An audit report over the decisions in [since, until) (optionally of one policy).

    ``fairness`` holds the guard's fairness by subject attribute and by identity group mentioned in the text;
    ``model_fairness`` the wrapped model's outcomes against their ground truth; ``explanations`` example decisions
    explained; ``drivers`` the global view per classifier scanner.
    """

    since: datetime | None
    until: datetime | None
    policy: str | None
    generated_at: datetime
    tool_version: str
    database: str
    activity: Activity
    thresholds: Thresholds
    fairness: tuple[FairnessReport, ...]
    model_fairness: tuple[FairnessReport, ...]
    explanations: tuple[DecisionExplanation, ...]
    drivers: tuple[Drivers, ...]
    policies: tuple[PolicyInForce, ...]
    chain: ChainStatus
    compliance: tuple[ComplianceItem, ...]

    @property
    def empty(self) -> bool:
        """True when no decision was logged in the window."""
        return self.activity.total == 0

    @property
    def findings(self) -> tuple[FairnessFinding, ...]:
        """Every fairness finding (guard and model), in section order."""
        return tuple(f for r in (*self.fairness, *self.model_fairness) for f in r.findings)

    @property
    def title(self) -> str:
        """A human title naming the window and the policy."""
        since = self.since.date().isoformat() if self.since else "start"
        until = self.until.date().isoformat() if self.until else self.generated_at.date().isoformat()
        scope = f" — policy {self.policy}" if self.policy else ""
        return f"ombud audit report {since} to {until}{scope}"

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data (the ``report.json`` export)."""
        return {
            "title": self.title,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "policy": self.policy,
            "generated_at": self.generated_at.isoformat(),
            "tool_version": self.tool_version,
            "database": self.database,
            "empty": self.empty,
            "message": EMPTY_LOG if self.empty else None,
            "activity": self.activity.to_dict(),
            "thresholds": {
                "min_group_size": self.thresholds.min_group_size,
                "demographic_parity_ratio_min": self.thresholds.demographic_parity_ratio_min,
                "equalized_odds_difference_max": self.thresholds.equalized_odds_difference_max,
            },
            "fairness": [r.to_dict() for r in self.fairness],
            "model_fairness": [r.to_dict() for r in self.model_fairness],
            "explanations": [e.to_dict() for e in self.explanations],
            "drivers": [d.to_dict() for d in self.drivers],
            "policies": [p.to_dict() for p in self.policies],
            "chain": self.chain.to_dict(),
            "compliance": [c.to_dict() for c in self.compliance],
        }
