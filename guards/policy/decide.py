"""The decision rule: verdicts in, the strictest action and the spans to transform out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from guards.policy.schema import LabelRule, OperatorName, PolicyModel, ScannerSpec
from guards.types import Action, Finding, RuleHit, Verdict


@dataclass(frozen=True, slots=True)
class Redaction:
    """A span of the text to transform with a named operator."""

    start: int
    end: int
    label: str
    operator: OperatorName
    scanner: str


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What the policy decided for one text.

    ``redactions`` are the spans the caller's text loses (when the action is REDACT);
    ``audit_redactions`` are every located finding the policy does not explicitly allow,
    applied to produce the text that may be stored.
    """

    action: Action
    rules: tuple[RuleHit, ...]
    redactions: tuple[Redaction, ...]
    audit_redactions: tuple[Redaction, ...]


def decide(policy: PolicyModel, verdicts: Sequence[Verdict]) -> PolicyDecision:
    """Apply the policy's thresholds to every finding; the strictest fired action wins."""
    specs = {spec.id: spec for spec in policy.scanners}
    rules: list[RuleHit] = []
    redactions: list[Redaction] = []
    audit_redactions: list[Redaction] = []
    for verdict in verdicts:
        spec = specs[verdict.scanner]
        if verdict.failed:
            mode = Action(spec.on_error or policy.on_error)
            rules.append(RuleHit(verdict.scanner, "error", 1.0, 0.0, mode, reason="error"))
            continue
        for finding in verdict.findings:
            label_rule = spec.labels.get(finding.label)
            tiers = label_tiers(spec, finding.label)
            fired = _fired(tiers, finding.score)
            operator = (label_rule.operator if label_rule else None) or spec.operator
            explicitly_allowed = fired is Action.ALLOW and Action.ALLOW in tiers
            if finding.has_span and not explicitly_allowed:
                audit_redactions.append(_redaction(finding, operator, verdict.scanner))
            if fired is None or fired is Action.ALLOW:
                continue
            reason = "threshold"
            if fired is Action.REDACT and not finding.has_span:
                fired, reason = Action.BLOCK, "unredactable"
            rules.append(
                RuleHit(
                    verdict.scanner,
                    finding.label,
                    finding.score,
                    tiers[_tier_key(tiers, fired)],
                    fired,
                    operator,
                    reason,
                )
            )
            if fired is Action.REDACT:
                redactions.append(_redaction(finding, operator, verdict.scanner))
    action = Action.strictest(r.action for r in rules)
    return PolicyDecision(action, tuple(rules), tuple(redactions), tuple(audit_redactions))


def label_tiers(spec: ScannerSpec, label: str) -> Mapping[Action, float]:
    """Threshold per action for one label: the label's own rule first, then the scanner's."""
    rule: LabelRule | None = spec.labels.get(label)
    if rule is not None and rule.thresholds:
        return rule.thresholds
    if rule is not None and (rule.action is not None or rule.threshold is not None):
        return {rule.action or spec.action: spec.threshold if rule.threshold is None else rule.threshold}
    if spec.thresholds:
        return spec.thresholds
    return {spec.action: spec.threshold}


def _fired(tiers: Mapping[Action, float], score: float) -> Action | None:
    reached = [action for action, threshold in tiers.items() if score >= threshold]
    return Action.strictest(reached) if reached else None


def _tier_key(tiers: Mapping[Action, float], fired: Action) -> Action:
    """The tier that produced ``fired`` (BLOCK escalated from an unredactable REDACT maps back to REDACT)."""
    return fired if fired in tiers else Action.REDACT


def _redaction(finding: Finding, operator: OperatorName, scanner: str) -> Redaction:
    assert finding.start is not None and finding.end is not None
    return Redaction(finding.start, finding.end, finding.label, operator, scanner)
