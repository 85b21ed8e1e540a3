"""Core value types of the one-way flow: text → scanners → verdicts → policy decision → action → Decision."""

from __future__ import annotations

import enum
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

_UUID7_CLEAR = ~(0xF << 76 | 0x3 << 62)  # the version and variant bits ...
_UUID7_MARK = 0x7 << 76 | 0x2 << 62  # ... set to version 7, variant RFC 9562


def time_ordered_id() -> str:
    """A new UUIDv7 (RFC 9562) as 32 hex digits: unix milliseconds first, then 74 random bits.

    Ids made later sort later, so a database index on them grows at its end instead of at random places.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10))
    return f"{value & _UUID7_CLEAR | _UUID7_MARK:032x}"


class Stage(enum.StrEnum):
    """Where in a model call a text is checked."""

    INPUT = "input"
    OUTPUT = "output"


class Action(enum.StrEnum):
    """What the policy does with a text; ordered from mildest to strictest."""

    ALLOW = "allow"
    FLAG = "flag"
    REDACT = "redact"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        """Rank used to pick the strictest action (higher is stricter)."""
        return _SEVERITY[self]

    @staticmethod
    def strictest(actions: Any) -> Action:
        """The strictest of ``actions`` (``ALLOW`` when empty)."""
        return max(actions, key=lambda a: a.severity, default=Action.ALLOW)


_SEVERITY = {Action.ALLOW: 0, Action.FLAG: 1, Action.REDACT: 2, Action.BLOCK: 3}


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection: a label with a score in [0, 1], and a character span when the scanner locates it.

    ``start``/``end`` are offsets into the scanned text (end exclusive); both are ``None`` for
    whole-text findings such as a toxicity score. ``detail`` holds non-sensitive explanation
    (recogniser name, matched context words) and never the detected value itself.
    """

    label: str
    score: float
    start: int | None = None
    end: int | None = None
    detail: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"finding score must be in [0, 1], got {self.score!r}")
        if (self.start is None) != (self.end is None):
            raise ValueError("a finding needs both start and end, or neither")
        if self.start is not None and self.end is not None and not 0 <= self.start <= self.end:
            raise ValueError(f"invalid span [{self.start}, {self.end})")

    @property
    def has_span(self) -> bool:
        """True when the finding points at a part of the text."""
        return self.start is not None

    def shifted(self, offset: int) -> Finding:
        """The same finding with its span moved by ``offset`` characters."""
        if self.start is None or self.end is None:
            return self
        return Finding(self.label, self.score, self.start + offset, self.end + offset, self.detail)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one scanner found in one text. ``score`` is the scanner's overall score (max of findings)."""

    scanner: str
    score: float
    findings: tuple[Finding, ...] = ()
    latency_ms: float = 0.0
    error: str | None = None

    @property
    def failed(self) -> bool:
        """True when the scanner raised or timed out instead of scanning."""
        return self.error is not None

    @classmethod
    def of(cls, scanner: str, findings: tuple[Finding, ...] | list[Finding]) -> Verdict:
        """A verdict whose score is the highest finding score (0 when nothing was found)."""
        found = tuple(findings)
        return cls(scanner=scanner, score=max((f.score for f in found), default=0.0), findings=found)


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """Identifies the exact policy version that took a decision."""

    name: str
    version: str
    sha256: str


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A policy rule that fired: which scanner and label, at what score against which threshold."""

    scanner: str
    label: str
    score: float
    threshold: float
    action: Action
    operator: str | None = None
    reason: str = "threshold"


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who and what a check belongs to; carried into the Decision and the audit record."""

    request_id: str | None = None
    session_id: str | None = None
    application: str | None = None
    model: str | None = None
    subject: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    outcome: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def with_ids(self) -> CallContext:
        """This context with a fresh request id (and session id) where none was given."""
        return CallContext(
            request_id=self.request_id or uuid.uuid4().hex,
            session_id=self.session_id,
            application=self.application,
            model=self.model,
            subject=self.subject,
            outcome=self.outcome,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of checking one text at one stage.

    ``text`` is what the caller receives (redacted when the action is REDACT; the policy's
    safe message when blocked). ``safe_text`` has every located finding replaced by a typed
    placeholder whatever the action: it is the only text that may be logged or stored.
    ``original`` is the text as it came in; it never leaves the process unless a policy opts in.
    ``repr`` shows only ``safe_text``, so logging a Decision cannot leak what the policy merely flagged.
    """

    action: Action
    stage: Stage
    text: str = field(repr=False)
    safe_text: str
    verdicts: tuple[Verdict, ...]
    rules: tuple[RuleHit, ...]
    policy: PolicyRef
    context: CallContext = field(default_factory=CallContext)
    latency_ms: float = 0.0
    original: str = field(default="", repr=False)
    original_length: int = 0
    id: str = field(default_factory=time_ordered_id)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def blocked(self) -> bool:
        """True when the policy blocked the text."""
        return self.action is Action.BLOCK

    @property
    def findings(self) -> tuple[tuple[str, Finding], ...]:
        """Every finding with the id of the scanner that produced it."""
        return tuple((v.scanner, f) for v in self.verdicts for f in v.findings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view that never contains the original text."""
        return {
            "id": self.id,
            "timestamp": self.timestamp.isoformat(),
            "stage": self.stage.value,
            "action": self.action.value,
            "text": self.text,
            "policy": {
                "name": self.policy.name,
                "version": self.policy.version,
                "sha256": self.policy.sha256,
            },
            "latency_ms": round(self.latency_ms, 3),
            "rules": [
                {
                    "scanner": r.scanner,
                    "label": r.label,
                    "score": round(r.score, 4),
                    "threshold": r.threshold,
                    "action": r.action.value,
                    "operator": r.operator,
                    "reason": r.reason,
                }
                for r in self.rules
            ],
            "verdicts": [
                {
                    "scanner": v.scanner,
                    "score": round(v.score, 4),
                    "latency_ms": round(v.latency_ms, 3),
                    "error": v.error,
                    "findings": [
                        {"label": f.label, "score": round(f.score, 4), "start": f.start, "end": f.end}
                        for f in v.findings
                    ],
                }
                for v in self.verdicts
            ],
            "context": {
                "request_id": self.context.request_id,
                "session_id": self.context.session_id,
                "application": self.context.application,
                "model": self.context.model,
                "subject": dict(self.context.subject),
            },
        }
