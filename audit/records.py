"""Domain objects the store returns (dataclasses), and the conversion of a ``Decision`` into stored values."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from guards.types import Action, CallContext, Decision, Finding, PolicyRef, RuleHit, Stage, Verdict

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _US


def from_us(micros: int) -> datetime:
    """The UTC datetime of ``micros`` microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 text (used for stored JSON and for hashing)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _verdict_json(v: Verdict) -> dict[str, Any]:
    return {
        "scanner": v.scanner,
        "score": v.score,
        "latency_ms": v.latency_ms,
        "error": v.error,
        "findings": [
            {"label": f.label, "score": f.score, "start": f.start, "end": f.end, "detail": dict(f.detail)}
            for f in v.findings
        ],
    }


def _rule_json(r: RuleHit) -> dict[str, Any]:
    return {
        "scanner": r.scanner,
        "label": r.label,
        "score": r.score,
        "threshold": r.threshold,
        "action": r.action.value,
        "operator": r.operator,
        "reason": r.reason,
    }


IndexRow = tuple[int, str, str, float, int | None, int | None]
"""One ``audit_finding`` row: ord, scanner, label, score, start, end."""


def finding_index(verdicts: list[dict[str, Any]]) -> list[IndexRow]:
    """The ``audit_finding`` rows implied by a decision's verdicts."""
    rows: list[IndexRow] = []
    for v in verdicts:
        for f in v["findings"]:
            rows.append((len(rows), v["scanner"], f["label"], f["score"], f["start"], f["end"]))
    return rows


def decision_values(decision: Decision, encrypt: Callable[[str], str] | None) -> dict[str, Any]:
    """The stored column values of ``decision`` (without seq and hashes). Raw text appears only encrypted."""
    ctx = decision.context
    return {
        "id": decision.id,
        "ts_us": to_us(decision.timestamp),
        "stage": Stage(decision.stage).value,
        "action": Action(decision.action).value,
        "request_id": ctx.request_id,
        "session_id": ctx.session_id,
        "application": ctx.application,
        "model": ctx.model,
        "policy_name": decision.policy.name,
        "policy_version": decision.policy.version,
        "policy_sha256": decision.policy.sha256,
        "latency_ms": float(decision.latency_ms),
        "safe_text": decision.safe_text,
        "original_length": decision.original_length or len(decision.original),
        "original_enc": encrypt(decision.original) if decision.original and encrypt else None,
        "subject": dumps(dict(ctx.subject)),
        "outcome": dumps(dict(ctx.outcome)),
        "rules": dumps([_rule_json(r) for r in decision.rules]),
        "verdicts": dumps([_verdict_json(v) for v in decision.verdicts]),
    }


@dataclass(frozen=True, slots=True)
class Feedback:
    """A human reviewer's verdict on one decision (e.g. label ``"false_positive"``)."""

    id: str
    decision_id: str
    label: str
    reviewer: str
    note: str
    timestamp: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored decision as the audit log holds it: no raw text, only ``safe_text`` and span offsets."""

    seq: int
    id: str
    timestamp: datetime
    stage: Stage
    action: Action
    policy: PolicyRef
    context: CallContext
    latency_ms: float
    safe_text: str
    original_length: int
    has_original: bool
    verdicts: tuple[Verdict, ...]
    rules: tuple[RuleHit, ...]
    hash: str
    feedback: tuple[Feedback, ...] = field(default=())

    @property
    def outcome(self) -> Mapping[str, Any]:
        """The model outcome the caller attached (e.g. ``{"approved": True, "ground_truth": False}``)."""
        return self.context.outcome

    @property
    def subject(self) -> Mapping[str, str]:
        """The subject attributes the caller attached for fairness analysis."""
        return self.context.subject


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """A policy version seen by the store, with its canonical document and first/last use."""

    name: str
    version: str
    sha256: str
    document: str
    first_seen: datetime
    last_seen: datetime


def _verdict(v: Mapping[str, Any]) -> Verdict:
    findings = tuple(
        Finding(f["label"], f["score"], f["start"], f["end"], MappingProxyType(f.get("detail") or {}))
        for f in v["findings"]
    )
    return Verdict(v["scanner"], v["score"], findings, v["latency_ms"], v["error"])


def _rule(r: Mapping[str, Any]) -> RuleHit:
    return RuleHit(
        r["scanner"], r["label"], r["score"], r["threshold"], Action(r["action"]), r["operator"], r["reason"]
    )


def record_from_row(row: Any, feedback: tuple[Feedback, ...] = ()) -> AuditRecord:
    """Build an ``AuditRecord`` from a ``DecisionRow`` (or any object with its attributes)."""
    return AuditRecord(
        seq=row.seq,
        id=row.id,
        timestamp=from_us(row.ts_us),
        stage=Stage(row.stage),
        action=Action(row.action),
        policy=PolicyRef(row.policy_name, row.policy_version, row.policy_sha256),
        context=CallContext(
            request_id=row.request_id,
            session_id=row.session_id,
            application=row.application,
            model=row.model,
            subject=MappingProxyType(json.loads(row.subject)),
            outcome=MappingProxyType(json.loads(row.outcome)),
        ),
        latency_ms=row.latency_ms,
        safe_text=row.safe_text,
        original_length=row.original_length,
        has_original=row.original_enc is not None,
        verdicts=tuple(_verdict(v) for v in json.loads(row.verdicts)),
        rules=tuple(_rule(r) for r in json.loads(row.rules)),
        hash=row.hash,
        feedback=feedback,
    )
