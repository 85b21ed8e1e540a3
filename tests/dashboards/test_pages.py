"""Every dashboard page in Streamlit's AppTest, with data and empty; sign-in and roles."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import dashboards
from audit import AuditStore
from audit.explain import DecisionExplanation, Driver, Drivers, ScannerExplanation, TokenAttribution
from dashboards import auth, data, ui

from .conftest import PASSWORDS, RAW_PII, ROLES

APP = str(Path(dashboards.__file__).with_name("app.py"))
PAGES = {
    "overview": "Overview",
    "decisions": "Decisions",
    "fairness": "Fairness",
    "explanations": "Explanations",
    "policies": "Policies",
    "integrity": "Integrity & reports",
}


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch, users_file: Path):
    """Build an AppTest of the dashboard on a database, signed in as ``user`` (or not)."""

    def make(url: str, user: str | None = None, page: str | None = None) -> AppTest:
        monkeypatch.setenv("OMBUD_DATABASE_URL", url)
        monkeypatch.setenv(auth.USERS_ENV, str(users_file))
        at = AppTest.from_file(APP, default_timeout=120)
        if user is not None:
            at.session_state[ui.USER_KEY] = auth.User(user, ROLES[user])
        at.run()
        return at if page is None else at.switch_page(f"pages/{page}.py").run()

    return make


def shown_text(at: AppTest) -> str:
    """Everything a page shows as text: markdown, captions, metrics, code, alerts, tables."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "code", "info", "success", "error", "warning"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    parts += [e.value.to_string() for e in at.dataframe if isinstance(e.value, pd.DataFrame)]
    return "\n".join(parts)


def test_no_sign_in_means_no_data(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url)
    assert not at.exception
    assert [t.value for t in at.title] == ["ombud audit dashboard"]
    assert not at.dataframe and not at.metric
    with pytest.raises(ValueError, match=r"Known pages: \['Sign in'\]"):
        at.switch_page("pages/decisions.py")


def test_sign_in(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url)
    at.text_input(key="login_name").input("arthur")
    at.text_input(key="login_password").input("wrong")
    at.button[0].click().run()
    assert "wrong password" in at.error[0].value
    at.text_input(key="login_password").input(PASSWORDS["arthur"])
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert "arthur" in shown_text(at)


def test_no_users_configured(make_app, seeded_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = AppTest.from_file(APP)
    monkeypatch.setenv("OMBUD_DATABASE_URL", seeded_url)
    monkeypatch.setenv(auth.USERS_ENV, str(tmp_path / "missing.toml"))
    at.run()
    assert at.error[0].value == auth.NO_USERS
    assert not at.text_input


@pytest.mark.parametrize("page", list(PAGES))
def test_page_with_data(make_app, seeded_url: str, page: str) -> None:
    at = make_app(seeded_url, "olivia", page)
    assert not at.exception, at.exception
    assert at.title[0].value == PAGES[page]
    text = shown_text(at)
    assert not [value for value in RAW_PII if value in text]
    assert "No decisions recorded yet" not in text


@pytest.mark.parametrize("page", list(PAGES))
def test_page_empty_database(make_app, empty_url: str, page: str) -> None:
    at = make_app(empty_url, "arthur", page)
    assert not at.exception, at.exception
    text = shown_text(at)
    if page == "policies":
        assert "No policy has been recorded yet" in text
    else:
        assert "No decisions recorded yet" in text


def test_overview_aggregates(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "olivia", "overview")
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Decisions"].replace(",", "")) == AuditStore(seeded_url, journal=False).count()
    assert len(at.get("vega_lite_chart")) == 3
    at.selectbox(key="f_app").select("hr-assistant").run()
    assert int({m.label: m.value for m in at.metric}["Decisions"]) < int(metrics["Decisions"].replace(",", ""))


def test_decision_detail(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "olivia", "decisions")
    table = at.dataframe[0].value
    assert {"time", "action", "findings", "text (redacted)"} <= set(table.columns)
    redacted = table[table["findings"].str.contains("EMAIL_ADDRESS")].iloc[0]
    at.selectbox(key="d_open").select(redacted["id"]).run()
    text = shown_text(at)
    assert "<mark>&lt;EMAIL_ADDRESS&gt;</mark>" in text
    scores = at.dataframe[1].value
    assert {"secrets", "hygiene"} <= set(scores["scanner"])
    email = scores[scores["label"] == "EMAIL_ADDRESS"].iloc[0]
    assert email["score"] >= 0.5 and "≥" in email["thresholds"] and email["fires"] != "-"
    assert scores["thresholds"].str.contains("≥").all()
    assert "Only auditors can record feedback." in text
    assert not at.get("radio")


def test_decisions_paging_and_filters(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "olivia", "decisions")
    first = at.dataframe[0].value
    assert len(first) == 50
    at.button(key="page_next").click().run()
    second = at.dataframe[0].value
    assert set(first["seq"]).isdisjoint(second["seq"]) and second["seq"].max() < first["seq"].min()
    at.selectbox(key="d_action").select("block").run()
    assert set(at.dataframe[0].value["action"]) == {"block"}


def test_auditor_records_feedback(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "arthur", "decisions")
    decision_id = at.selectbox(key="d_open").value
    at.radio(key="fb_label").set_value("false_positive")
    at.text_input(key="fb_note").input("test feedback")
    at.button(key="FormSubmitter:feedback-Record feedback").click().run()
    assert not at.exception
    stored = AuditStore(seeded_url, journal=False).feedback(decision_id)
    assert [(f.label, f.reviewer, f.note) for f in stored][-1] == ("false_positive", "arthur", "test feedback")
    assert "**false_positive** by arthur" in shown_text(at)


def test_read_only_dashboard_on_an_evidence_copy(
    make_app, seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ombud dashboard --read-only``: every page works on a copy and nothing next to it changes; no feedback form."""
    copy = tmp_path / "evidence" / "audit.db"
    copy.parent.mkdir()
    with closing(sqlite3.connect(seeded_url.removeprefix("sqlite:///"))) as live, closing(sqlite3.connect(copy)) as dst:
        live.backup(dst)  # a consistent copy, write-ahead log included
    before = {p.name: p.read_bytes() for p in copy.parent.iterdir()}
    monkeypatch.setenv(auth.READ_ONLY_ENV, "1")
    url = f"sqlite:///{copy}"
    for page in PAGES:
        at = make_app(url, "arthur", page)
        assert not at.exception, page
    at = make_app(url, "arthur", "decisions")
    assert at.dataframe[0].value.shape[0] > 0
    assert "feedback cannot be recorded here" in shown_text(at)
    assert "Read-only: nothing is written to the audit log" in [c.value for c in make_app(url, "olivia").caption]
    assert not [r for r in at.radio if r.key == "fb_label"]
    assert {p.name: p.read_bytes() for p in copy.parent.iterdir()} == before


def test_policies_diff(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "olivia", "policies")
    table = at.dataframe[0].value
    assert sorted(zip(table["policy"], table["version"], strict=True)) == [
        ("default", "1"),
        ("default", "2"),
        ("strict", "1"),
    ]
    assert table[table["in force"]]["version"].tolist() == ["2", "1"]
    diff = at.code[-1].value
    assert diff.startswith("--- default@1") and "+++ default@2" in diff
    assert "-      threshold: 0.4\n+      threshold: 0.6" in diff


def test_integrity_verify(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "olivia", "integrity")
    at.button(key="verify").click().run()
    assert "All chains intact" in at.success[0].value
    assert "Only auditors can generate and download reports." in shown_text(at)


def test_fairness_by_subject_attribute(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "olivia", "fairness")
    assert at.selectbox(key="fair_by").value == "subject.age_band"
    findings = at.dataframe[0].value
    assert set(findings["status"]) <= {"pass", "fail", "insufficient"} and len(findings)
    assert at.get("vega_lite_chart")
    at.selectbox(key="fair_outcome").select("approved").run()
    assert not at.exception
    assert "the model" in at.selectbox(key="fair_outcome").format_func("approved")


def test_decision_explanation(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "olivia", "decisions")
    at.toggle(key="explain").set_value(True).run()
    assert not at.exception
    assert "findings · score" in shown_text(at)


def test_explanations_page(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "olivia", "explanations")
    scanners = at.selectbox(key="x_scanner")
    assert scanners.value and "pii" in scanners.options
    scanners.set_value("pii").run()  # a pattern scanner: its drivers are the entity types it found
    at.toggle(key="x_drivers").set_value(True).run()
    assert not at.exception
    assert "pattern scanner" in shown_text(at)


def test_auditor_downloads_report(make_app, seeded_url: str) -> None:
    at = make_app(seeded_url, "arthur", "integrity")
    at.multiselect(key="r_formats").set_value(["json", "csv"])
    at.button(key="r_build").click().run()
    assert not at.exception
    assert at.get("download_button")


SHAP = ScannerExplanation(
    scanner="toxicity",
    method="shap",
    label="toxic",
    score=0.91,
    rule="toxic ≥ 0.85 → block",
    base_value=0.1,
    tokens=(TokenAttribution("you", 0.05), TokenAttribution("idiot", 0.7), TokenAttribution("!", 0.06)),
)


def test_decision_explanation_with_shap(make_app, seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    explained = DecisionExplanation("id", "block", "input", "you idiot!", "demo@1", (SHAP,))
    monkeypatch.setattr(data, "explanation", lambda url, decision_id: explained)
    at = make_app(seeded_url, "olivia", "decisions")
    at.toggle(key="explain").set_value(True).run()
    assert not at.exception
    assert "**toxicity** · shap · score 0.910 · toxic ≥ 0.85 → block" in shown_text(at)
    assert "`idiot` (+0.700)" in shown_text(at)
    assert at.get("vega_lite_chart")


def test_explanations_with_drivers(make_app, seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    found = Drivers("pii", None, None, 40, 20, (Driver("idiot", 12, 0.6), Driver("stupid", 7, 0.4)))
    monkeypatch.setattr(data, "drivers", lambda url, scanner, start, end, sample: found)
    at = make_app(seeded_url, "olivia", "explanations")
    at.toggle(key="x_drivers").set_value(True).run()
    assert not at.exception
    assert "20 of 40 interventions explained with SHAP" in shown_text(at)
    assert at.dataframe[-1].value["token"].tolist() == ["idiot", "stupid"]
