"""Explanations on the real store: SHAP additivity, per-decision cache, PII by findings, global drivers."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime

os.environ.setdefault("NUMBA_DISABLE_JIT", "1")  # tiny inputs: skip SHAP's numba compilation (seconds per process)

import pytest

from audit import AuditStore
from audit.explain import attribute, explain_decision, global_drivers
from guards.models.heads import shipped_head_dir
from guards.types import Action, CallContext, Decision, Finding, PolicyRef, RuleHit, Stage, Verdict

POLICY = PolicyRef("toy", "1", "d" * 64)
WEIGHTS = {"idiot": 2.5, "stupid": 2.0, "hate": 1.2}


def toxic(texts: Sequence[str]) -> list[float]:
    """A bag-of-words logistic scorer standing in for a classifier scanner."""
    out = []
    for text in texts:
        z = -2.0 + sum(WEIGHTS.get(w.strip(".,!?").lower(), 0.0) for w in text.split())
        out.append(1 / (1 + math.exp(-z)))
    return out


def _decision(text: str, *, scanner: str = "toxicity", action: Action = Action.BLOCK) -> Decision:
    score = toxic([text])[0]
    return Decision(
        action=action,
        stage=Stage.INPUT,
        text=text,
        safe_text=text,
        verdicts=(Verdict(scanner, score, (Finding("toxic", score),)),),
        rules=(RuleHit(scanner, "toxic", score, 0.5, action),),
        policy=POLICY,
        context=CallContext(),
        timestamp=datetime.now(UTC),
    )


@pytest.mark.parametrize("text", ["you are an idiot", "I hate this stupid idiot thing, honestly", "fine", ""])
def test_shap_additivity(text: str) -> None:
    result = attribute(text, toxic, key="toy", max_evals=200)
    assert result.score == pytest.approx(toxic([text])[0])
    assert result.base_value + sum(result.values) == pytest.approx(result.score, abs=1e-6)
    assert result.additivity_error < 1e-6


def test_explain_decision_caches_per_decision(store: AuditStore) -> None:
    d = _decision("what a stupid idiot you are")
    store.write(d)
    store.flush()
    first = explain_decision(store, d.id, scorers={"toxicity": toxic})
    s = first.scanners[0]
    assert s.method == "shap" and not s.cached and s.label == "toxic"
    assert s.additivity_error is not None and s.additivity_error < 1e-6
    assert s.top(1)[0].token.strip() == "idiot"
    again = explain_decision(store, d.id, scorers={"toxicity": toxic})
    assert again.scanners[0].cached and again.scanners[0].tokens == s.tokens
    assert first.to_dict()["scanners"][0]["tokens"]


def test_pii_is_explained_by_findings(store: AuditStore) -> None:
    finding = Finding("PHONE_NUMBER", 0.75, 8, 22, {"recognizer": "PhoneRecognizer", "context": ["call", "phone"]})
    d = Decision(
        action=Action.REDACT,
        stage=Stage.OUTPUT,
        text="call me <PHONE_NUMBER>",
        safe_text="call me <PHONE_NUMBER>",
        verdicts=(Verdict("pii", 0.75, (finding,)),),
        rules=(RuleHit("pii", "PHONE_NUMBER", 0.75, 0.4, Action.REDACT, "replace"),),
        policy=POLICY,
    )
    store.write(d)
    store.flush()
    s = explain_decision(store, d.id).scanners[0]
    assert s.method == "findings" and s.tokens == ()
    assert s.findings[0].recognizer == "PhoneRecognizer" and s.findings[0].context == ("call", "phone")
    assert s.rule == "PHONE_NUMBER ≥ 0.4 → redact"


def test_unknown_decision() -> None:
    class Nothing:
        def get_decision(self, decision_id: str) -> None:
            return None

    with pytest.raises(LookupError):
        explain_decision(Nothing(), "nope")  # type: ignore[arg-type]


def test_global_drivers(store: AuditStore) -> None:
    for text in ["you idiot", "idiot, really", "stupid idiot", "I hate mondays, idiot"]:
        store.write(_decision(text))
    store.write(_decision("a lovely day", action=Action.ALLOW))
    store.flush()
    drivers = global_drivers(store, "toxicity", sample=10, scorers={"toxicity": toxic})
    assert drivers.decisions == 4 and drivers.explained == 4
    assert drivers.tokens[0].token == "idiot" and drivers.tokens[0].count == 4


@pytest.mark.skipif(not (shipped_head_dir("bias") / "meta.json").is_file(), reason="bias head weights not shipped yet")
def test_real_classifier_scanner_additivity(tmp_path, monkeypatch) -> None:
    from guards import Guard
    from guards.policy import parse_policy

    monkeypatch.setenv("OMBUD_AUDIT_JOURNAL_DIR", str(tmp_path / "journal"))
    policy = "name: bias-only\nscanners:\n  - {id: bias, type: bias, stages: [input], action: flag, threshold: 0.5}\n"
    with AuditStore(f"sqlite:///{tmp_path / 'a.db'}") as store:
        decision = Guard(parse_policy(policy), audit=store).check("Women are too emotional to be engineers.")
        store.flush()
        s = explain_decision(store, decision.id, max_evals=60).scanners[0]
    assert s.method == "shap" and s.error is None and s.label == "stereotype"
    assert s.score == pytest.approx(decision.verdicts[0].score, abs=1e-4)
    assert s.additivity_error is not None and s.additivity_error < 1e-4
