"""Secrets: API keys, tokens, private keys and passwords, found by known formats plus an entropy test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from guards.errors import PolicyError
from guards.scanners.base import ParamTypes, ScanContext, ScannerBase
from guards.scanners.entropy import char_classes, shannon_entropy
from guards.types import Finding, Verdict


@dataclass(frozen=True, slots=True)
class SecretPattern:
    """A credential format: the regex, the group holding the secret, and how sure a match is."""

    label: str
    regex: re.Pattern[str]
    score: float
    group: int = 0
    min_entropy: float = 0.0


def _p(
    label: str, pattern: str, score: float, group: int = 0, min_entropy: float = 0.0, flags: int = 0
) -> SecretPattern:
    return SecretPattern(label, re.compile(pattern, flags), score, group, min_entropy)


PATTERNS: tuple[SecretPattern, ...] = (
    _p(
        "PRIVATE_KEY",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        1.0,
    ),
    _p("AWS_ACCESS_KEY", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b", 0.95),
    _p(
        "AWS_SECRET_KEY",
        r"(?i)aws.{0,20}(?:secret|private).{0,20}?[=:\"'\s]+([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        0.95,
        group=1,
    ),
    _p("GITHUB_TOKEN", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b", 0.99),
    _p("GITLAB_TOKEN", r"\bglpat-[A-Za-z0-9_\-]{20,}\b", 0.99),
    _p("SLACK_TOKEN", r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", 0.97),
    _p("STRIPE_KEY", r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b", 0.97),
    _p("GOOGLE_API_KEY", r"\bAIza[0-9A-Za-z_\-]{35}\b", 0.95),
    _p(
        "OPENAI_API_KEY",
        r"\bsk-(?:proj-|svcacct-|ant-(?:api\d\d-)?)?[A-Za-z0-9_\-]{20,}\b",
        0.9,
        min_entropy=3.5,
    ),
    _p("JWT", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 0.95),
    _p("BEARER_TOKEN", r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{16,}=*)", 0.85, group=1, min_entropy=3.0),
    _p("CONNECTION_PASSWORD", r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]+:([^\s@/]+)@[^\s/]+", 0.95, group=1),
    _p(
        "PASSWORD",
        r"(?i)\b(?:password|passwd|pwd|passphrase|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)"
        r"[\"']?\s*(?:[:=]|\bis\b)\s*[\"']?([^\s\"',;]{6,})",
        0.8,
        group=1,
        min_entropy=2.0,
    ),
)

_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/=_\-]{24,}(?![A-Za-z0-9+/=_\-])")


class SecretsScanner(ScannerBase):
    """Finds credentials by known formats; optionally any long high-entropy token (``params.entropy: true``).

    Params: ``entropy`` (default true), ``min_entropy`` bits per char for unknown tokens (default 4.0).
    """

    type_name = "secrets"
    params_types: ClassVar[ParamTypes] = {"entropy": bool, "min_entropy": (int, float)}

    def validate(self) -> None:
        """Also: ``min_entropy`` is between 0 and 8 bits per character."""
        super().validate()
        if not 0 <= self.params.get("min_entropy", 4.0) <= 8:
            raise PolicyError(f"scanner {self.id!r}: params.min_entropy must be between 0 and 8 bits per character")

    labels: ClassVar[frozenset[str] | None] = frozenset({p.label for p in PATTERNS} | {"HIGH_ENTROPY_STRING"})

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        """Every credential-like span with a confidence score."""
        findings: list[Finding] = []
        taken: list[tuple[int, int]] = []
        for pattern in PATTERNS:
            for match in pattern.regex.finditer(text):
                start, end = match.span(pattern.group)
                value = match.group(pattern.group)
                if pattern.min_entropy and shannon_entropy(value) < pattern.min_entropy:
                    continue
                if any(s < end and start < e for s, e in taken):
                    continue
                taken.append((start, end))
                findings.append(Finding(pattern.label, pattern.score, start, end, {"rule": pattern.label.lower()}))
        if self.params.get("entropy", True):
            findings.extend(self._high_entropy(text, taken))
        return Verdict.of(self.id, findings)

    def _high_entropy(self, text: str, taken: list[tuple[int, int]]) -> list[Finding]:
        floor = float(self.params.get("min_entropy", 4.0))
        found = []
        for match in _CANDIDATE.finditer(text):
            start, end = match.span()
            value = match.group(0)
            if any(s < end and start < e for s, e in taken) or char_classes(value) < 3:
                continue
            entropy = shannon_entropy(value)
            if entropy >= floor:
                score = min(0.9, 0.5 + (entropy - floor) * 0.4)
                found.append(
                    Finding("HIGH_ENTROPY_STRING", round(score, 3), start, end, {"entropy": round(entropy, 2)})
                )
        return found
