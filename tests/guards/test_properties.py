"""Property-based tests: whatever the text around them, redacted output never contains a detected value."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from guards import Action, Guard, parse_policy
from guards.actions import Vault
from guards.text import fold_lookalikes

SECRETS = st.sampled_from(
    [
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "xoxb-123456789012-abcdefghijklmnop",
    ]
)
PII = st.sampled_from(
    ["jane.doe@example.com", "4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32", "10.20.30.40", "EMP-123456"]
)
FILLER = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)

PATTERN_POLICY = parse_policy(
    """
name: prop
scanners:
  - type: hygiene
    action: redact
    operator: remove
  - type: secrets
    action: redact
    threshold: 0.8
    params: {entropy: false}
  - type: regex
    action: redact
    operator: pseudonymize
    params:
      entities:
        - {label: EMP, patterns: ['EMP-\\d{6}']}
""",
    source="prop.yaml",
)


@settings(max_examples=150, deadline=None)
@given(before=FILLER, secret=SECRETS, after=FILLER, sep=st.sampled_from([" ", "\n", ": ", "\u200b "]))
def test_redacted_text_never_contains_a_detected_secret(before: str, secret: str, after: str, sep: str) -> None:
    guard = Guard(PATTERN_POLICY)
    evaluation = guard.evaluate(f"{before}{sep}{secret}{sep}{after}")
    decision = guard.check(f"{before}{sep}{secret}{sep}{after}")
    detected = {
        evaluation.text[f.start : f.end]
        for v in evaluation.verdicts
        if v.scanner == "secrets"
        for f in v.findings
        if f.start is not None and f.end is not None and f.score >= 0.8
    }
    assert secret in detected or decision.action is Action.BLOCK
    for value in detected:
        assert value not in decision.text
        assert value not in decision.safe_text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=FILLER, value=PII, after=FILLER)
@example(before="¦", value="jane.doe@example.com", after="1¦")  # a one-character span that also stands elsewhere
def test_pii_never_survives_redaction(default_guard: Guard, before: str, value: str, after: str) -> None:
    text = f"{before} {value} {after}"
    vault = Vault()
    evaluation = default_guard.evaluate(text, vault=vault)
    redacted = default_guard.transform(evaluation, vault)
    spans = sorted((r.start, r.end) for r in evaluation.decision.redactions)
    bounds = [0, *(i for span in spans for i in span), len(evaluation.text)]
    kept = "\0".join(evaluation.text[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2))
    for red in evaluation.decision.redactions:
        found = evaluation.text[red.start : red.end]
        if red.operator == "mask" or found in kept:  # masked keeps a tail; or the same text also stands unredacted
            continue
        assert found not in redacted.replace("*", "")
    if value != "EMP-123456" and value in {evaluation.text[r.start : r.end] for r in evaluation.decision.redactions}:
        assert value not in redacted


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))))
def test_folding_lookalikes_keeps_every_offset(text: str) -> None:
    """Detectors scan the folded text and report offsets into the original: one character for one."""
    folded = fold_lookalikes(text)
    assert len(folded) == len(text)
    assert all(a == b for a, b in zip(folded, text, strict=True) if a.isascii() and b.isascii())


def test_folding_makes_lookalikes_plain() -> None:
    assert fold_lookalikes("４１\u00a0٤\u202f1–2＠x\u3000é") == "41 4 1-2@x é"
