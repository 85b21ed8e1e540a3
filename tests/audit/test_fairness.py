"""Fairness reports over the real audit store: numbers equal fairlearn's on hand-built frames; lexicon; findings."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from audit import AuditStore
from audit.fairness import (
    IdentityLexicon,
    Thresholds,
    fairness_report,
    fairness_reports,
    fairness_reports_for,
    load_lexicon,
    parse_lexicon,
)
from audit.outcomes import as_bool, ground_truth_label, guard_truth, parse_ground_truth, record_ground_truth
from guards.types import Action, CallContext, Decision, PolicyRef, Stage

pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SADeprecationWarning")  # e.g. Result.tuples()
POLICY = PolicyRef("default", "1", "b" * 64)
TEXTS = {"A": "a Muslim applicant", "B": "Christians apply, a Christian too", "C": "an applicant"}
RELIGION = {"A": "muslim", "B": "christian", "C": "(none)"}
EVERY_GROUP = Thresholds(min_group_size=1)
ACTIONS = [Action.ALLOW, Action.FLAG, Action.REDACT, Action.BLOCK]


def _decision(text: str, *, action: Action = Action.ALLOW, subject=None, outcome=None) -> Decision:
    return Decision(
        action=action,
        stage=Stage.INPUT,
        text=text,
        safe_text=text,
        verdicts=(),
        rules=(),
        policy=POLICY,
        context=CallContext(subject=subject or {}, outcome=outcome or {}),
        timestamp=datetime(2026, 11, 1, tzinfo=UTC),
    )


@pytest.fixture
def people() -> pd.DataFrame:
    """A hand-built frame: sex and race, a model outcome and its ground truth, and a guard action."""
    rng = np.random.default_rng(7)
    n = 240
    sex = rng.choice(["Female", "Male"], n, p=[0.4, 0.6])
    race = rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2])
    approved = rng.random(n) < np.where(sex == "Female", 0.3, 0.55)
    truth = rng.random(n) < 0.45
    action = rng.choice(4, n, p=[0.6, 0.15, 0.15, 0.1])
    return pd.DataFrame({"sex": sex, "race": race, "approved": approved, "truth": truth, "action": action})


def _log(store: AuditStore, frame: pd.DataFrame, *, truth_later: bool = True, texts: bool = False) -> list[str]:
    """Log one decision per row; half the ground truths inline, half recorded later as feedback. With ``texts``,
    the text mentions a religion that follows the row's race (``RELIGION``)."""
    ids = []
    for i, row in enumerate(frame.itertuples()):
        outcome = {"approved": bool(row.approved)}
        if not truth_later or i % 2:
            outcome["ground_truth"] = bool(row.truth)
        d = _decision(
            TEXTS[row.race] if texts else "a loan application",
            action=ACTIONS[row.action],
            subject={"sex": row.sex, "race": row.race},
            outcome=outcome,
        )
        store.write(d)
        ids.append(d.id)
    store.flush()
    if truth_later:
        for i, row in enumerate(frame.itertuples()):
            if not i % 2:
                record_ground_truth(store, ids[i], bool(row.truth), reviewer="auditor")
    return ids


def test_model_outcome_metrics_equal_fairlearn(store: AuditStore, people: pd.DataFrame) -> None:
    _log(store, people)
    for feature in ("sex", "race"):
        report = fairness_report(store, by=feature, outcome="approved", thresholds=EVERY_GROUP, n_boot=50)
        y_true, y_pred, groups = people["truth"], people["approved"], people[feature]
        expected = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
                "false_negative_rate": false_negative_rate,
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups,
        )
        got = report.by_group
        for metric in expected.by_group.columns:
            assert got[metric].to_numpy() == pytest.approx(expected.by_group[metric].to_numpy())
            assert report.overall[metric] == pytest.approx(expected.overall[metric])
        assert report.difference("selection_rate") == pytest.approx(
            demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
        )
        assert report.ratio("selection_rate") == pytest.approx(
            demographic_parity_ratio(y_true, y_pred, sensitive_features=groups)
        )
        assert report.equalized_odds is not None
        assert report.equalized_odds.difference == pytest.approx(
            equalized_odds_difference(y_true, y_pred, sensitive_features=groups)
        )
        assert list(got["n"]) == list(groups.value_counts().sort_index())
        assert report.metric_frame is not None


def _review(store: AuditStore, ids: list[str], frame: pd.DataFrame) -> pd.DataFrame:
    """Reviewers label the first 120 decisions: was the guard's intervention (or its absence) right? Returns them."""
    should = frame["truth"].to_numpy()[:120]
    for decision_id, action, truth in zip(ids[:120], frame["action"][:120], should, strict=True):
        intervened = action > 0
        label = "confirmed" if intervened == truth else ("false_positive" if intervened else "false_negative")
        store.add_feedback(decision_id, label=label, reviewer="ann")
    return frame.iloc[:120]


def test_guard_rates_and_error_rates_equal_fairlearn(store: AuditStore, people: pd.DataFrame) -> None:
    labelled = _review(store, _log(store, people, truth_later=False), people)
    report = fairness_report(store, by="subject.sex", thresholds=EVERY_GROUP, n_boot=50)
    groups = people["sex"]
    for name, code in (("block_rate", 3), ("flag_rate", 1), ("redaction_rate", 2)):
        expected = MetricFrame(
            metrics=selection_rate, y_true=people["truth"], y_pred=people["action"] == code, sensitive_features=groups
        )
        assert report.by_group[name].to_numpy() == pytest.approx(expected.by_group.to_numpy())
    intervened = labelled["action"] > 0
    for name, fn in (("false_positive_rate", false_positive_rate), ("false_negative_rate", false_negative_rate)):
        expected = MetricFrame(
            metrics=fn, y_true=labelled["truth"], y_pred=intervened, sensitive_features=labelled["sex"]
        )
        assert report.by_group[name].to_numpy() == pytest.approx(expected.by_group.to_numpy())
    assert report.equalized_odds is not None
    assert report.equalized_odds.difference == pytest.approx(
        equalized_odds_difference(labelled["truth"], intervened, sensitive_features=labelled["sex"])
    )
    assert list(report.by_group["n_labelled"]) == list(labelled["sex"].value_counts().sort_index())


def test_identity_groups_with_ground_truth_equal_fairlearn(store: AuditStore, people: pd.DataFrame) -> None:
    labelled = _review(store, _log(store, people, texts=True), people)  # model truths: half inline, half later
    groups = people["race"].map(RELIGION)
    error_rates = {"false_positive_rate": false_positive_rate, "false_negative_rate": false_negative_rate}
    model = fairness_report(store, by="identity.religion", outcome="approved", thresholds=EVERY_GROUP, n_boot=0)
    expected = MetricFrame(
        metrics={"selection_rate": selection_rate, **error_rates},
        y_true=people["truth"],
        y_pred=people["approved"],
        sensitive_features=groups,
    )
    for metric in expected.by_group.columns:
        assert model.by_group[metric].to_numpy() == pytest.approx(expected.by_group[metric].to_numpy())
    guard = fairness_report(store, by="identity.religion", thresholds=EVERY_GROUP, n_boot=0)
    expected = MetricFrame(
        metrics=error_rates,
        y_true=labelled["truth"],
        y_pred=labelled["action"] > 0,
        sensitive_features=groups[:120],
    )
    for metric in error_rates:
        assert guard.by_group[metric].to_numpy() == pytest.approx(expected.by_group[metric].to_numpy())
    assert list(guard.by_group["n_labelled"]) == list(groups[:120].value_counts().sort_index())


def test_guard_and_model_from_one_scan_equal_fairlearn(store: AuditStore, people: pd.DataFrame) -> None:
    labelled = _review(store, _log(store, people), people)
    for _ in range(7):  # the guard blocked these; the model took no decision on them
        store.write(_decision("no loan", action=Action.BLOCK, subject={"sex": "Female", "race": "A"}))
    store.flush()
    reports = fairness_reports_for(store, {None: ["sex"], "approved": ["race"]}, thresholds=EVERY_GROUP, n_boot=0)
    (guard,), (model,) = reports[None], reports["approved"]
    guard_sex = pd.concat([people["sex"], pd.Series(["Female"] * 7)], ignore_index=True)
    blocked = pd.concat([people["action"] == 3, pd.Series([True] * 7)], ignore_index=True)
    expected = MetricFrame(metrics=selection_rate, y_true=blocked, y_pred=blocked, sensitive_features=guard_sex)
    assert guard.by_group["block_rate"].to_numpy() == pytest.approx(expected.by_group.to_numpy())
    expected = MetricFrame(
        metrics=false_positive_rate,
        y_true=labelled["truth"],
        y_pred=labelled["action"] > 0,
        sensitive_features=labelled["sex"],
    )
    assert guard.by_group["false_positive_rate"].to_numpy() == pytest.approx(expected.by_group.to_numpy())
    expected = MetricFrame(
        metrics={"selection_rate": selection_rate, "false_negative_rate": false_negative_rate},
        y_true=people["truth"],
        y_pred=people["approved"],
        sensitive_features=people["race"],
    )
    for metric in expected.by_group.columns:
        assert model.by_group[metric].to_numpy() == pytest.approx(expected.by_group[metric].to_numpy())
    assert list(model.by_group["n"]) == list(people["race"].value_counts().sort_index())
    assert guard.missing == model.missing == 0  # no outcome: not the model's decision, not a missing attribute


def test_small_groups_are_reported_as_insufficient_not_hidden(store: AuditStore) -> None:
    rows = [("big", Action.BLOCK)] * 20 + [("big", Action.ALLOW)] * 20 + [("other", Action.ALLOW)] * 40
    rows += [("tiny", Action.BLOCK)] * 3
    for group, action in rows:
        store.write(_decision("hello", action=action, subject={"team": group}))
    store.flush()
    report = fairness_report(store, by="team", thresholds=Thresholds(min_group_size=30), n_boot=20)
    assert report.insufficient_groups == ("tiny",)
    assert report.by_group.loc["tiny", "block_rate"] == 1.0
    assert report.difference("block_rate") == pytest.approx(0.5)  # big 0.5 vs other 0.0; tiny (1.0) left out
    finding = next(f for f in report.findings if f.metric == "block_rate")
    assert finding.status == "fail" and finding.value == 0.0


def test_findings_follow_the_policy_thresholds(store: AuditStore) -> None:
    for group, approved in [("x", True)] * 45 + [("x", False)] * 55 + [("y", True)] * 40 + [("y", False)] * 60:
        store.write(_decision("loan", subject={"g": group}, outcome={"approved": approved}))
    store.flush()
    strict = Thresholds.from_policy({"fairness": {"demographic_parity_ratio_min": 0.9, "min_group_size": 10}})
    lenient = Thresholds.from_policy({"fairness": {"demographic_parity_ratio_min": 0.8}})
    assert strict.min_group_size == 10 and lenient.min_group_size == 30
    ratio = {t: fairness_report(store, by="g", outcome="approved", thresholds=t, n_boot=0) for t in (strict, lenient)}
    parity = {t: next(f for f in r.findings if f.check == "demographic_parity_ratio") for t, r in ratio.items()}
    assert parity[strict].value == pytest.approx(40 / 45)
    assert parity[strict].status == "fail" and parity[lenient].status == "pass"
    odds = next(f for f in ratio[strict].findings if f.check == "equalized_odds_difference")
    assert odds.status == "insufficient"  # no ground truth logged


def test_bootstrap_intervals_bracket_the_estimate_and_are_reproducible(store: AuditStore, people) -> None:
    _log(store, people)
    first = fairness_report(store, by="sex", outcome="approved", thresholds=EVERY_GROUP, n_boot=200, seed=3)
    again = fairness_report(store, by="sex", outcome="approved", thresholds=EVERY_GROUP, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(first.by_group, again.by_group)
    frame = first.by_group
    assert (frame["selection_rate_lo"] <= frame["selection_rate"]).all()
    assert (frame["selection_rate"] <= frame["selection_rate_hi"]).all()
    d = first.disparities["selection_rate"]
    assert d.difference_ci is not None and d.difference_ci[0] <= d.difference <= d.difference_ci[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Muslims and Jews live here", {"religion/muslim", "religion/jewish"}),
        ("She is a trans woman", {"gender/transgender"}),
        ("an African  American teacher", {"ethnicity/black"}),
        ("Elderly people and teenagers", {"age/older", "age/younger"}),
        ("GAY rights", {"sexuality/gay_or_lesbian"}),
        ("mankind in Germany, a humane gesture", set()),
        ("the white house is black and white", set()),
        ("<PERSON> is a deaf man", {"disability/blind_or_deaf", "gender/men"}),
    ],
)
def test_lexicon_finds_identity_groups(text: str, expected: set[str]) -> None:
    assert {str(g) for g in load_lexicon().find(text)} == expected


def _mentioned(lexicon: IdentityLexicon, text: str) -> set[str]:
    """The plain definition: the text's words, scanned left to right for the longest term starting at each."""
    words = re.findall(r"<[A-Za-z_]+>|\w+(?:[-'’]\w+)*", text.lower())
    longest = max(len(term.split()) for term in lexicon.terms)
    found, i = set(), 0
    while i < len(words):
        n = next((n for n in range(longest, 0, -1) if " ".join(words[i : i + n]) in lexicon.terms), 0)
        if n:
            found.add(str(lexicon.terms[" ".join(words[i : i + n])]))
        i += n or 1
    return found


def test_lexicon_matcher_follows_the_plain_definition_on_every_term() -> None:
    lexicon = load_lexicon()
    words = [w for term in lexicon.terms for w in term.split()] + ["people", "Muslim", "x1", "_"]
    glue = [" ", ", ", "-", "'", "’", "<", ">", "<PERSON>", "<x1>", "--", ".", "\n", "é", "<>", "_", "İ"]
    rng = random.Random(0)
    texts = [f"a {term} b" for term in lexicon.terms] + [f"{term.upper()}'s <EMAIL>" for term in lexicon.terms]
    for _ in range(20_000):
        parts = [p for _ in range(rng.randint(1, 8)) for p in (rng.choice(words), rng.choice(glue))]
        texts.append("".join(parts[: rng.randint(1, len(parts))]))
    assert all(lexicon.find(f"a {term} b") for term in lexicon.terms)
    for text in texts:
        assert {str(g) for g in lexicon.find(text)} == _mentioned(lexicon, text), text


def test_lexicon_rejects_a_term_in_two_groups() -> None:
    with pytest.raises(ValueError, match="both"):
        parse_lexicon({"categories": {"a": {"x": ["term"], "y": ["term"]}}})


def test_identity_groups_in_text(store: AuditStore) -> None:
    for _ in range(12):
        store.write(_decision("Muslims are welcome", action=Action.BLOCK))
        store.write(_decision("Christians are welcome", action=Action.ALLOW))
        store.write(_decision("the weather is fine", action=Action.ALLOW))
    store.flush()
    report = fairness_report(store, by="identity.religion", thresholds=EVERY_GROUP, n_boot=10)
    assert dict(report.by_group["n"]) == {"(none)": 12, "christian": 12, "muslim": 12}
    assert report.by_group.loc["muslim", "block_rate"] == 1.0
    assert report.ratio("intervention_rate") == 0.0
    everything = fairness_reports(store, n_boot=0)  # identity categories nobody mentions are left out
    assert [r.feature for r in everything] == ["identity.religion"]


def test_intervals_do_not_depend_on_the_order_of_the_log(tmp_path: Path) -> None:
    counts = {"Muslims ask": (37, 23, 41), "Christians ask": (7, 19, 53), "hi": (0, 0, 9)}  # block, flag, allow
    actions = (Action.BLOCK, Action.FLAG, Action.ALLOW)
    rows = [(text, a) for text, ns in counts.items() for a, n in zip(actions, ns, strict=True) for _ in range(n)]
    frames = []
    for name, ordered in (("a", rows), ("b", rows[::-1])):
        with AuditStore(f"sqlite:///{tmp_path / name}.db") as store:
            for text, action in ordered:
                store.write(_decision(text, action=action))
            store.flush()
            frames.append(fairness_report(store, by="identity.religion", thresholds=EVERY_GROUP, n_boot=50).by_group)
    pd.testing.assert_frame_equal(*frames)


def test_empty_log_has_no_groups(store: AuditStore) -> None:
    report = fairness_report(store, by="sex", outcome="approved")
    assert report.n == 0 and report.passed is None
    assert {f.status for f in report.findings} == {"insufficient"}
    assert report.to_dict()["groups"] == []


def test_outcome_helpers() -> None:
    assert parse_ground_truth(ground_truth_label("approved", True), "approved") is True
    assert parse_ground_truth("ground_truth:other=true", "approved") is None
    assert [as_bool(v) for v in (True, 0, "yes", "no", 2, None)] == [True, False, True, False, None, None]
    assert guard_truth("false_positive", True) is False
    assert guard_truth("confirmed", True) is True and guard_truth("note", True) is None
    with pytest.raises(ValueError):
        ground_truth_label("a=b", True)


def test_a_group_without_positive_truth_is_named_in_the_equalized_odds_finding(store: AuditStore) -> None:
    """Its true positive rate is undefined (fairlearn's own metric says 0): left out of the difference, and the
    finding says so instead of leaving it out silently (QA)."""
    rows = [("a", approved, False) for approved in [True, False, False, False, True, False]]
    rows += [("b", p, t) for p, t in [(True, True), (False, True), (True, True), (False, False), (False, False)]]
    for group, approved, truth in rows:
        store.write(_decision("loan", subject={"g": group}, outcome={"approved": approved, "ground_truth": truth}))
    store.flush()
    report = fairness_report(store, by="g", outcome="approved", thresholds=Thresholds(min_group_size=5), n_boot=0)

    assert np.isnan(report.by_group.loc["a", "true_positive_rate"])
    finding = next(f for f in report.findings if f.check == "equalized_odds_difference")
    assert "undefined for a" in finding.message
