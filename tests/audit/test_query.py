"""The read side for reports and the dashboard: filters, SQL aggregates, paging, DataFrame export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from audit import AuditStore, Filters, rollups
from guards.types import Action, Decision, Finding, Stage

MakeDecision = Callable[..., Decision]
DAY1 = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
EMAIL = (Finding("EMAIL_ADDRESS", 0.95, 0, 5),)
PERSON = (Finding("PERSON", 0.8, 0, 4), Finding("PERSON", 0.7, 6, 9))


@pytest.fixture
def populated(store: AuditStore, make_decision: MakeDecision) -> AuditStore:
    """12 decisions over two days, two applications, four actions, two regions, with outcomes."""
    rows = [
        (DAY1, Action.ALLOW, "chat", (), "EU", True, 1.0),
        (DAY1, Action.REDACT, "chat", EMAIL, "EU", True, 2.0),
        (DAY1, Action.REDACT, "chat", PERSON, "US", False, 3.0),
        (DAY1, Action.BLOCK, "loans", EMAIL, "US", False, 4.0),
        (DAY1, Action.FLAG, "loans", (), "EU", True, 5.0),
        (DAY1, Action.ALLOW, "loans", (), "US", True, 6.0),
        (DAY2, Action.ALLOW, "chat", (), "EU", True, 7.0),
        (DAY2, Action.REDACT, "chat", EMAIL, "EU", False, 8.0),
        (DAY2, Action.REDACT, "loans", PERSON, "US", True, 9.0),
        (DAY2, Action.BLOCK, "loans", EMAIL, "EU", False, 10.0),
        (DAY2, Action.ALLOW, "loans", (), "US", True, 11.0),
        (DAY2, Action.ALLOW, "chat", (), "US", True, 12.0),
    ]
    for i, (ts, action, app, findings, region, approved, latency) in enumerate(rows):
        store.write(
            make_decision(
                timestamp=ts + timedelta(minutes=i),
                action=action,
                application=app,
                findings=findings,
                subject={"region": region, "age_band": "18-39" if i % 2 else "40-60"},
                outcome={"approved": approved},
                latency_ms=latency,
                stage=Stage.OUTPUT if i % 3 == 0 else Stage.INPUT,
            )
        )
    store.flush()
    return store


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), 12),
        (Filters(start=DAY2), 6),
        (Filters(start=DAY1, end=DAY1 + timedelta(minutes=3)), 3),
        (Filters(action="redact"), 4),
        (Filters(action=("redact", "block")), 6),
        (Filters(stage="output"), 4),
        (Filters(application="loans"), 6),
        (Filters(scanner="pii"), 6),
        (Filters(label="PERSON"), 2),
        (Filters(scanner="toxicity"), 0),
        (Filters(policy="default"), 12),
        (Filters(policy="strict"), 0),
        (Filters(subject={"region": "EU"}), 6),
        (Filters(subject={"region": "EU", "age_band": "40-60"}), 3),
        (Filters(application="loans", action="allow", start=DAY2), 1),
    ],
)
def test_filters(populated: AuditStore, filters: Filters, expected: int) -> None:
    assert populated.count(filters) == expected
    assert len(populated.to_frame(filters)) == expected


def test_counts_in_sql(populated: AuditStore) -> None:
    assert populated.counts("day") == {(date(2026, 3, 1),): 6, (date(2026, 3, 2),): 6}
    assert populated.counts("action") == {("allow",): 5, ("block",): 2, ("flag",): 1, ("redact",): 4}
    by_day_action = populated.counts("day", "action", filters=Filters(application="chat"))
    assert by_day_action[(date(2026, 3, 2), "allow")] == 2
    assert populated.counts("scanner", "label") == {("pii", "EMAIL_ADDRESS"): 4, ("pii", "PERSON"): 2}
    assert populated.counts("scanner") == {("pii",): 6}  # decisions, not findings
    assert populated.counts("application", filters=Filters(action="block")) == {("loans",): 2}
    with pytest.raises(ValueError, match="cannot group"):
        populated.counts("colour")


def test_latency_percentiles(populated: AuditStore) -> None:
    found = populated.latency_percentiles(percentiles=(0, 50, 100))
    assert found == pytest.approx({0: 1.0, 50: 6.5, 100: 12.0}, rel=rollups.BUCKET_ERROR)
    assert populated.latency_percentiles(Filters(application="none")) == {}


def test_paging_newest_first(populated: AuditStore) -> None:
    seen = []
    cursor = None
    while True:
        page = populated.decisions(limit=5, before_seq=cursor)
        seen.extend(r.seq for r in page.items)
        if page.next_before is None:
            break
        cursor = page.next_before
    assert seen == list(range(12, 0, -1))
    page = populated.decisions(Filters(action="block"), limit=1)
    assert page.items[0].action is Action.BLOCK and page.next_before is not None


def test_frame_for_fairness_reports(populated: AuditStore) -> None:
    first = populated.decisions(Filters(application="chat", action="redact"), limit=1).items[0]
    populated.add_feedback(first.id, label="false_positive", reviewer="ann")
    frame = populated.to_frame(scores=True)
    assert len(frame) == 12
    assert {"subject.region", "subject.age_band", "outcome.approved", "feedback", "score.pii"} <= set(frame.columns)
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["outcome.approved"].sum() == 8
    assert frame.loc[frame["id"] == first.id, "feedback"].item() == "false_positive"
    assert frame["feedback"].notna().sum() == 1
    assert frame["n_findings"].tolist()[:3] == [0, 1, 2]
    assert "safe_text" not in frame.columns


def test_stats(populated: AuditStore) -> None:
    stats = populated.stats()
    assert stats["decisions"] == 12 and stats["findings"] == 8
    assert stats["chains"]["decision"]["seq"] == 12


@pytest.mark.parametrize("key", ["género", "emoji😀", 'q"uote', "back\\slash", "a.b"])
def test_attribute_names_of_any_spelling_are_read_without_rollups(
    store: AuditStore, make_decision: MakeDecision, key: str
) -> None:
    """Subject attributes and outcome keys outside ASCII, or holding a quote, read as missing on SQLite before their
    days were rolled up (the JSON path spelt them with escapes SQLite does not decode): a fairness report found
    every decision 'missing' and a subject filter matched nothing."""
    from audit.fairness import fairness_report

    for i in range(6):
        value = "F" if i % 2 else "M"
        store.write(make_decision(timestamp=DAY1 + timedelta(minutes=i), subject={key: value}, outcome={key: i < 2}))
    store.flush()

    assert store.count(Filters(subject={key: "F"})) == 3
    report = fairness_report(store, by=key, outcome=key, n_boot=0)
    assert report.missing == 0 and report.by_group["n"].to_dict() == {"F": 3, "M": 3}
    assert report.by_group["selection_rate"].to_dict() == pytest.approx({"F": 1 / 3, "M": 1 / 3})


def test_a_subject_filter_compares_as_text_on_both_databases(store: AuditStore, make_decision: MakeDecision) -> None:
    """PostgreSQL's ->> reads the JSON number 5 as '5'; SQLite's json_extract read it as 5, matching nothing."""
    store.write(make_decision(subject={"num": 5, "region": "EU"}))
    store.write(make_decision(subject={"num": "5", "region": "US"}))
    store.flush()
    assert store.count(Filters(subject={"num": "5"})) == 2
    assert len(store.to_frame(Filters(subject={"num": "5", "region": "EU"}))) == 1
