"""The decision rule: thresholds, tiers, per-label overrides, strictest action, scanner errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from guards import Action, Finding, Verdict
from guards.policy import Policy, decide

POLICY = """
name: t
on_error: block
scanners:
  - id: s
    type: secrets
    action: redact
    threshold: 0.5
    labels:
      PASSWORD: {action: block, threshold: 0.7}
      HIGH_ENTROPY_STRING: {thresholds: {flag: 0.3, block: 0.9}}
      JWT: {action: allow}
  - id: h
    type: hygiene
    action: flag
    on_error: allow
"""


@pytest.mark.parametrize(
    ("findings", "expected", "redacted"),
    [
        ([], Action.ALLOW, 0),
        ([Finding("GITHUB_TOKEN", 0.4, 0, 4)], Action.ALLOW, 0),
        ([Finding("GITHUB_TOKEN", 0.5, 0, 4)], Action.REDACT, 1),
        ([Finding("PASSWORD", 0.6, 0, 4)], Action.ALLOW, 0),
        ([Finding("PASSWORD", 0.7, 0, 4)], Action.BLOCK, 0),
        ([Finding("HIGH_ENTROPY_STRING", 0.5, 0, 4)], Action.FLAG, 0),
        ([Finding("HIGH_ENTROPY_STRING", 0.95, 0, 4)], Action.BLOCK, 0),
        ([Finding("JWT", 0.99, 0, 4)], Action.ALLOW, 0),
        ([Finding("GITHUB_TOKEN", 0.9, 0, 4), Finding("PASSWORD", 0.8, 5, 9)], Action.BLOCK, 1),
    ],
)
def test_strictest_fired_action_wins(
    make_policy: Callable[[str], Policy], findings: list[Finding], expected: Action, redacted: int
) -> None:
    decision = decide(make_policy(POLICY).model, [Verdict.of("s", findings)])
    assert decision.action is expected
    assert len(decision.redactions) == redacted


def test_explicitly_allowed_labels_stay_in_the_audit_text(make_policy: Callable[[str], Policy]) -> None:
    verdict = Verdict.of("s", [Finding("JWT", 0.99, 0, 3), Finding("GITHUB_TOKEN", 0.1, 4, 8)])
    decision = decide(make_policy(POLICY).model, [verdict])
    assert [r.label for r in decision.audit_redactions] == ["GITHUB_TOKEN"]  # below threshold, still hidden


def test_whole_text_finding_that_should_be_redacted_blocks(make_policy: Callable[[str], Policy]) -> None:
    decision = decide(make_policy(POLICY).model, [Verdict.of("s", [Finding("GITHUB_TOKEN", 0.9)])])
    assert decision.action is Action.BLOCK
    assert decision.rules[0].reason == "unredactable"


@pytest.mark.parametrize(("scanner", "expected"), [("s", Action.BLOCK), ("h", Action.ALLOW)])
def test_scanner_errors_follow_on_error(make_policy: Callable[[str], Policy], scanner: str, expected: Action) -> None:
    decision = decide(make_policy(POLICY).model, [Verdict(scanner, 0.0, error="boom")])
    assert decision.action is expected
    assert decision.rules[0].reason == "error"
