"""How the report's sections map to the record-keeping and fairness requirements auditors check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from audit.reports.model import ChainStatus

Status = Literal["evidenced", "attention", "not evidenced"]


@dataclass(frozen=True, slots=True)
class Requirement:
    """One clause of a framework, what it asks, and the report sections that evidence it."""

    framework: str
    clause: str
    requirement: str
    sections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ComplianceItem:
    """A requirement with the status this report shows for it and why."""

    requirement: Requirement
    status: Status
    note: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        r = self.requirement
        return {
            "framework": r.framework,
            "clause": r.clause,
            "requirement": r.requirement,
            "sections": list(r.sections),
            "status": self.status,
            "note": self.note,
        }


REQUIREMENTS = (
    Requirement(
        "EU AI Act",
        "Art. 12 Record-keeping",
        "High-risk AI systems technically allow the automatic recording of events (logs) over their lifetime, "
        "enabling traceability and post-market monitoring.",
        ("Activity summary", "Audit chain verification"),
    ),
    Requirement(
        "EU AI Act",
        "Art. 19 Automatically generated logs",
        "Providers keep the automatically generated logs under their control for a period appropriate to the "
        "intended purpose, of at least six months.",
        ("Policy versions in force", "Audit chain verification", "Export bundle manifest"),
    ),
    Requirement(
        "NIST AI RMF",
        "MEASURE 2.11",
        "Fairness and bias, as identified in the MAP function, are evaluated and results are documented.",
        ("Fairness", "Interpretability"),
    ),
    Requirement(
        "ISO/IEC 42001",
        "Annex A, A.6.2.8 AI system recording of event logs",
        "The organisation determines at which phases of the AI system life cycle record keeping of event logs is "
        "enabled, at the minimum when the AI system is in use.",
        ("Activity summary", "Audit chain verification", "Policy versions in force"),
    ),
)
"""The clauses the compliance section maps."""


def assess(
    *, decisions: int, chain: ChainStatus, retention_days: float | None, fairness_failed: int, fairness_assessed: int
) -> tuple[ComplianceItem, ...]:
    """The status of each requirement given the report's contents."""
    logs: Status = "evidenced" if decisions and chain.ok else "attention"
    log_note = (
        f"{decisions} decisions logged; hash chain {chain.verdict}"
        if decisions
        else "no decisions logged in the window"
    )
    keep: Status = logs if retention_days is None or retention_days >= 183 else "attention"
    keep_note = log_note + (f"; policy retention {retention_days:g} days" if retention_days is not None else "")
    if not fairness_assessed:
        fair: Status = "not evidenced"
        fair_note = "no group had enough decisions to assess fairness"
    else:
        fair = "attention" if fairness_failed else "evidenced"
        fair_note = f"{fairness_assessed} fairness checks assessed, {fairness_failed} failed"
    statuses: list[tuple[Status, str]] = [(logs, log_note), (keep, keep_note), (fair, fair_note), (logs, log_note)]
    return tuple(ComplianceItem(r, s, n) for r, (s, n) in zip(REQUIREMENTS, statuses, strict=True))
