"""Subject-attribute cells from the per-day rollup equal the live scan's: refreshes, new writes, labels, purge."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, update

from audit import AuditStore, Filters, rollups, subjects
from audit.fairness import collect
from audit.migrate import _config, upgrade
from audit.outcomes import record_ground_truth
from audit.schema import ROLLUP_SKIPPED_TABLE, ROLLUP_SUBJECT_TABLE
from guards.types import Action, Decision, Stage

MakeDecision = Callable[..., Decision]
FIRST = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=6)
AT = FIRST + timedelta(days=2, hours=7)  # partial-day edges
ATTRIBUTES = ("region", "age", "vip", "plan")
MAKERS = (None, "approved", "score")
FILTERS = [
    Filters(),
    Filters(start=AT),
    Filters(end=AT),
    Filters(start=AT, end=AT + timedelta(days=2, hours=5)),
    Filters(start=AT, end=AT + timedelta(hours=5)),  # no whole day: all live
    Filters(application="loans", stage="output"),
    Filters(action=("block", "redact"), start=AT),
    Filters(subject={"region": "EU"}),  # not held by the rollup: all live
]


def _subject(rng: random.Random) -> dict[str, Any]:
    """Strings, integers, booleans and JSON null; some attributes left out."""
    subject = {"region": rng.choice(("EU", "US", None)), "age": rng.choice((25, 40, 61)), "vip": rng.random() < 0.3}
    if rng.random() < 0.6:
        subject["plan"] = rng.choice(("free", "pro"))
    return {k: v for k, v in subject.items() if rng.random() < 0.9}


def _outcome(rng: random.Random) -> dict[str, Any]:
    """A boolean outcome (sometimes a string or missing), a numeric score, an inline ground truth now and then."""
    outcome: dict[str, Any] = {"score": rng.choice((0, 1, 0.5))}
    if rng.random() < 0.85:
        outcome["approved"] = rng.choice((True, False, "yes", "maybe"))
    if rng.random() < 0.5:
        outcome["ground_truth"] = rng.choice((True, False, "n/a"))
    return outcome


def _write(store: AuditStore, make_decision: MakeDecision, n: int, seed: int) -> None:
    """``n`` decisions at random times over a week from ``FIRST``, in time order."""
    rng = random.Random(seed)
    for minute in sorted(rng.randrange(7 * 24 * 60) for _ in range(n)):
        store.write(
            make_decision(
                timestamp=FIRST + timedelta(minutes=minute),
                action=rng.choice(list(Action)),
                stage=rng.choice(list(Stage)),
                application=rng.choice(("chat", "loans")),
                subject=_subject(rng) or {"other": "x"},
                outcome=_outcome(rng),
            )
        )
    store.flush()


def _label(store: AuditStore, seed: int) -> None:
    """Reviewer labels on some decisions: the guard's, and ground truths of ``approved`` (some overridden later)."""
    rng = random.Random(seed)
    for record in rng.sample(store.decisions(limit=1000).items, 40):
        if rng.random() < 0.5:
            store.add_feedback(record.id, label=rng.choice(("confirmed", "false_positive")), reviewer="r")
        else:
            record_ground_truth(store, record.id, rng.random() < 0.5, reviewer="r")


def _cells(store: AuditStore, f: Filters) -> dict[Any, Any]:
    with store.engine.connect() as conn:
        found = collect.subject_cells(conn, ATTRIBUTES, outcomes=MAKERS, filters=f)
    return {
        (maker, attribute): (sorted(frame.itertuples(index=False)), str(frame["weight"].dtype), missing)
        for maker, by_attribute in found.items()
        for attribute, (frame, missing) in by_attribute.items()
    }


@contextmanager
def _live() -> Iterator[None]:
    """The live scan alone: the rollup holds nothing the query asks for."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subjects, "rolled_up", lambda *_: False)
        yield


def _assert_exact(store: AuditStore) -> None:
    for f in FILTERS:
        answered = _cells(store, f)
        with _live():
            assert answered == _cells(store, f), f


def _rolled_up(store: AuditStore) -> int:
    """Decisions the rollup counts, as the guard's totals."""
    t = ROLLUP_SUBJECT_TABLE.c
    with store.engine.connect() as conn:
        return conn.scalar(select(func.sum(t.decisions)).where(t.maker.is_(None), t.attribute.is_(None))) or 0


@pytest.fixture
def seeded(store: AuditStore, make_decision: MakeDecision) -> AuditStore:
    """300 decisions over a week with four subject attributes, two model outcomes and reviewer labels."""
    _write(store, make_decision, 300, seed=1)
    _label(store, seed=1)
    return store


def test_rollup_equals_the_live_scan_through_refreshes_and_writes(
    seeded: AuditStore, make_decision: MakeDecision
) -> None:
    _assert_exact(seeded)  # nothing rolled up: the tail
    assert seeded.refresh_rollups() == 300 and _rolled_up(seeded) == 300
    _assert_exact(seeded)
    _write(seeded, make_decision, 60, seed=2)  # late writes in rolled-up days: the tail counts them
    _label(seeded, seed=2)  # labels stay live
    _assert_exact(seeded)
    assert seeded.refresh_rollups() == 60 and _rolled_up(seeded) == 360
    _assert_exact(seeded)


def test_purge_takes_decisions_out(seeded: AuditStore, make_decision: MakeDecision, keys_env: dict[str, str]) -> None:
    seeded.refresh_rollups()
    _write(seeded, make_decision, 40, seed=3)
    cutoff_days = (datetime.now(UTC) - (FIRST + timedelta(days=3, hours=5))).total_seconds() / 86_400
    purged = seeded.purge(older_than_days=cutoff_days).purged
    assert 80 < purged < 250 and _rolled_up(seeded) == 300 - purged
    _assert_exact(seeded)
    seeded.refresh_rollups()
    assert _rolled_up(seeded) == 340 - purged
    _assert_exact(seeded)


def test_answers_come_from_the_rollup(seeded: AuditStore) -> None:
    seeded.refresh_rollups()
    f = Filters(application="chat")
    with _live():
        live = _cells(seeded, f)
    with seeded.engine.begin() as conn:  # a canary: doubled rollups must show in every cell of whole days
        conn.execute(update(ROLLUP_SUBJECT_TABLE).values(decisions=ROLLUP_SUBJECT_TABLE.c.decisions * 2))
    doubled = _cells(seeded, f)
    for key, (rows, _, missing) in live.items():
        assert sum(r.weight for r in doubled[key][0]) == 2 * sum(r.weight for r in rows)
        assert doubled[key][2] == 2 * missing
    narrowed = Filters(application="chat", subject={"plan": "pro"})  # not held by the rollup: the log answers
    with _live():
        expected = _cells(seeded, narrowed)
    assert _cells(seeded, narrowed) == expected


def test_long_and_many_valued_attributes_are_left_out(
    seeded: AuditStore, make_decision: MakeDecision, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subjects, "MAX_VALUES", 3)  # age has three values: kept
    seeded.refresh_rollups()
    rng = random.Random(5)
    for i in range(8):
        subject = {"region": "EU", "age": 30 + i % 4, "plan": "x" * (65 if i == 7 else 3)}
        seeded.write(make_decision(timestamp=FIRST + timedelta(days=1, minutes=i), subject=subject))
        seeded.write(make_decision(timestamp=FIRST + timedelta(days=2), outcome=_outcome(rng)))
    seeded.flush()
    seeded.refresh_rollups()
    t = ROLLUP_SUBJECT_TABLE.c
    with seeded.engine.connect() as conn:
        assert set(conn.scalars(select(ROLLUP_SKIPPED_TABLE.c.attribute))) == {"age", "plan"}
        held = set(conn.scalars(select(t.attribute).distinct()))
        assert held == {None, "region", "vip", "age_band"}
        assert not subjects.rolled_up(conn, ["region", "age"], [None]) and subjects.rolled_up(conn, ["region"], [None])
    _assert_exact(seeded)


def test_upgrade_from_0002_rebuilds_every_rollup(seeded: AuditStore) -> None:
    seeded.refresh_rollups()
    with seeded.engine.begin() as conn:  # back to the rollups without subject cells, already up to date
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert upgrade(seeded.engine)
    with seeded.engine.connect() as conn:
        assert rollups.watermark(conn) == 0 and rollups.counts(conn, (), Filters()) == {(): 300}
    assert seeded.refresh_rollups() == 300 and _rolled_up(seeded) == 300
    _assert_exact(seeded)
