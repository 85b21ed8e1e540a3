"""Why one decision was taken: SHAP token attributions for classifier scanners, findings for everything else."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from audit.explain import cache as explanation_cache
from audit.explain.scanners import CLASSIFIER_TYPES, classifier, label_scorer, scanner_type
from audit.explain.shap_text import DEFAULT_MAX_EVALS, WORD_TOKENS, Scorer, attribute, encoder_tokenizer

if TYPE_CHECKING:
    from audit.records import AuditRecord
    from audit.store import AuditStore
    from guards.types import Verdict

log = logging.getLogger(__name__)
UNKNOWN_DECISION = "no audited decision with id {id!r}"


@dataclass(frozen=True, slots=True)
class TokenAttribution:
    """One token of the redacted text and its SHAP value (positive: pushed the score up)."""

    token: str
    value: float


@dataclass(frozen=True, slots=True)
class FindingExplanation:
    """A located finding: entity label, the recogniser that found it, its score and the context words it used."""

    label: str
    score: float
    recognizer: str | None
    context: tuple[str, ...]
    start: int | None
    end: int | None


@dataclass(frozen=True)
class ScannerExplanation:
    """The explanation of one scanner's verdict on a decision.

    ``method`` is ``shap`` (classifier scanners: ``tokens`` with ``base_value + sum(values) == score``) or ``findings``
    (PII, secrets and pattern scanners: ``findings``). ``rule`` is the policy rule the verdict fired, if any.
    """

    scanner: str
    method: Literal["shap", "findings"]
    label: str | None
    score: float
    rule: str | None = None
    base_value: float | None = None
    tokens: tuple[TokenAttribution, ...] = ()
    findings: tuple[FindingExplanation, ...] = ()
    cached: bool = False
    error: str | None = None

    @property
    def additivity_error(self) -> float | None:
        """``|base_value + sum(token values) - score|`` for SHAP explanations."""
        if self.base_value is None:
            return None
        return abs(self.base_value + sum(t.value for t in self.tokens) - self.score)

    def top(self, k: int = 5) -> tuple[TokenAttribution, ...]:
        """The ``k`` tokens that pushed the score up the most."""
        return tuple(sorted((t for t in self.tokens if t.value > 0), key=lambda t: -t.value)[:k])


@dataclass(frozen=True)
class DecisionExplanation:
    """Why decision ``decision_id`` got its action: one explanation per scanner verdict, on the redacted text."""

    decision_id: str
    action: str
    stage: str
    safe_text: str
    policy: str
    scanners: tuple[ScannerExplanation, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "decision_id": self.decision_id,
            "action": self.action,
            "stage": self.stage,
            "safe_text": self.safe_text,
            "policy": self.policy,
            "scanners": [_scanner_dict(s) for s in self.scanners],
        }


def _scanner_dict(s: ScannerExplanation) -> dict[str, Any]:
    return {
        "scanner": s.scanner,
        "method": s.method,
        "label": s.label,
        "score": s.score,
        "rule": s.rule,
        "base_value": s.base_value,
        "additivity_error": s.additivity_error,
        "tokens": [[t.token, t.value] for t in s.tokens],
        "findings": [
            {
                "label": f.label,
                "score": f.score,
                "recognizer": f.recognizer,
                "context": list(f.context),
                "start": f.start,
                "end": f.end,
            }
            for f in s.findings
        ],
        "cached": s.cached,
        "error": s.error,
    }


def explain_decision(
    store: AuditStore,
    decision_id: str,
    *,
    scanner: str | None = None,
    max_evals: int = DEFAULT_MAX_EVALS,
    use_cache: bool = True,
    scorers: Mapping[str, Scorer] | None = None,
) -> DecisionExplanation:
    """Explain one stored decision (only ``scanner``'s verdict when given), on its redacted text.

    Classifier scanners (toxicity, bias, injection) get SHAP token attributions of the fired label (else the top
    label), computed once and cached per decision; other scanners are explained by their findings. ``scorers`` maps
    a scanner id to a scoring function to use instead of rebuilding the scanner from the stored policy.
    """
    record = store.get_decision(decision_id)
    if record is None:
        raise LookupError(UNKNOWN_DECISION.format(id=decision_id))
    verdicts = [v for v in record.verdicts if scanner is None or v.scanner == scanner]
    explained = tuple(_explain(store, record, v, max_evals, use_cache, scorers or {}) for v in verdicts)
    return DecisionExplanation(
        decision_id=record.id,
        action=record.action.value,
        stage=record.stage.value,
        safe_text=record.safe_text,
        policy=f"{record.policy.name}@{record.policy.version}",
        scanners=explained,
    )


def _explain(
    store: AuditStore,
    record: AuditRecord,
    verdict: Verdict,
    max_evals: int,
    use_cache: bool,
    scorers: Mapping[str, Scorer],
) -> ScannerExplanation:
    rules = [r for r in record.rules if r.scanner == verdict.scanner]
    rule = f"{rules[0].label} ≥ {rules[0].threshold} → {rules[0].action.value}" if rules else None
    kind = None if verdict.scanner in scorers else scanner_type(store, record.policy.sha256, verdict.scanner)
    if verdict.scanner not in scorers and kind not in CLASSIFIER_TYPES:
        findings = tuple(
            FindingExplanation(
                f.label,
                f.score,
                f.detail.get("recognizer") or None,
                tuple(f.detail.get("context") or ()),
                f.start,
                f.end,
            )
            for f in verdict.findings
        )
        top = max(verdict.findings, key=lambda f: f.score, default=None)
        return ScannerExplanation(
            verdict.scanner, "findings", top.label if top else None, verdict.score, rule, findings=findings
        )
    label = rules[0].label if rules else max(verdict.findings, key=lambda f: f.score).label
    model_key = f"{record.policy.sha256}:{max_evals}" if verdict.scanner not in scorers else f"custom:{max_evals}"
    if use_cache and (hit := explanation_cache.get(store.engine, record.id, verdict.scanner, label, model_key)):
        return _from_payload(verdict.scanner, label, rule, hit)
    try:
        if verdict.scanner in scorers:
            scorer, key, tokenizer = scorers[verdict.scanner], f"custom:{verdict.scanner}", WORD_TOKENS
        else:
            model = classifier(store, record.policy.sha256, verdict.scanner)
            scorer = label_scorer(model, label)
            key, tokenizer = f"{record.policy.sha256}:{verdict.scanner}:{label}", _tokenizer()
        result = attribute(record.safe_text, scorer, key=key, tokenizer=tokenizer, max_evals=max_evals)
    except Exception as exc:  # a model that cannot load must not break a report
        log.warning("cannot explain %s of decision %s: %s", verdict.scanner, record.id, exc)
        return ScannerExplanation(verdict.scanner, "shap", label, verdict.score, rule, error=str(exc))
    payload = {
        "score": result.score,
        "base_value": result.base_value,
        "tokens": [[t, v] for t, v in zip(result.tokens, result.values, strict=True)],
    }
    if use_cache:
        explanation_cache.put(store.engine, record.id, verdict.scanner, label, model_key, payload)
    return _from_payload(verdict.scanner, label, rule, payload, cached=False)


def _from_payload(
    scanner: str, label: str, rule: str | None, payload: Mapping[str, Any], *, cached: bool = True
) -> ScannerExplanation:
    tokens = tuple(TokenAttribution(str(t), float(v)) for t, v in payload["tokens"])
    return ScannerExplanation(
        scanner, "shap", label, float(payload["score"]), rule, float(payload["base_value"]), tokens, cached=cached
    )


@cache
def _tokenizer() -> Any:
    try:
        return encoder_tokenizer()
    except Exception as exc:  # no local encoder: fall back to words
        log.warning("encoder tokenizer unavailable (%s); explaining words instead", exc)
        return WORD_TOKENS
