"""Per-day rollups answer exactly what the raw SQL answers: before and after a refresh, new writes, and a purge."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from alembic import command
from sqlalchemy import func, select, update

from audit import AuditStore, Filters, query, rollups
from audit.explain import cache
from audit.migrate import _config, upgrade
from audit.schema import ROLLUP_DAY_TABLE, ROLLUP_FINDING_TABLE
from guards.types import Action, Decision, Finding, Stage

MakeDecision = Callable[..., Decision]
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
FIRST = TODAY - timedelta(days=6)
EMAIL = Finding("EMAIL_ADDRESS", 0.95, 0, 5)
PERSON = Finding("PERSON", 0.8, 6, 9)
FINDINGS = ((), (EMAIL,), (PERSON,), (EMAIL, PERSON), (PERSON, PERSON))
AT = FIRST + timedelta(days=2, hours=7)  # partial-day edges

CASES = [
    ((), Filters()),
    (("day", "action"), Filters()),
    (("day", "action"), Filters(start=AT)),
    (("day", "action"), Filters(start=AT, end=AT + timedelta(days=2, hours=5))),
    (("action",), Filters(start=AT, end=AT + timedelta(hours=5))),  # no whole day: all live
    (("action",), Filters(end=AT)),
    (("application", "model", "action"), Filters(stage="output")),
    (("policy", "policy_version", "stage"), Filters(action=("block", "redact"), start=AT)),
    (("scanner", "label"), Filters()),
    (("scanner", "label"), Filters(application="loans", start=AT)),
    (("day",), Filters(scanner="pii", label="PERSON")),
    (("label",), Filters(scanner="pii", end=AT)),
    (("scanner",), Filters()),  # one finding column free: the log answers
    (("action",), Filters(subject={"region": "EU"})),
    (("day",), Filters(model="gpt-x", policy="default")),
]
POINTS = (0, 25, 50, 90, 99, 100)


def _write(store: AuditStore, make_decision: MakeDecision, n: int, seed: int, days: int = 7) -> None:
    """``n`` decisions at random times over ``days`` days from ``FIRST``, written in time order."""
    rng = random.Random(seed)
    for minute in sorted(rng.randrange(days * 24 * 60) for _ in range(n)):  # each batch in time order
        store.write(
            make_decision(
                timestamp=FIRST + timedelta(minutes=minute),
                action=rng.choice(list(Action)),
                stage=rng.choice(list(Stage)),
                application=rng.choice(("chat", "loans", None)),
                findings=rng.choice(FINDINGS),
                subject={"region": rng.choice(("EU", "US"))},
                latency_ms=rng.lognormvariate(2, 1),
            )
        )
    store.flush()


def _assert_exact(store: AuditStore) -> None:
    with store.engine.connect() as conn:
        for by, f in CASES:
            assert rollups.counts(conn, by, f) == query.counts(conn, by, f), (by, f)
            assert store.count(f) == query.counts(conn, (), f)[()]
            live = query.latencies(conn, f)[1]
            expected = rollups.percentiles(Counter(rollups.buckets(live).tolist()), POINTS)
            assert rollups.latency_percentiles(conn, f, POINTS) == pytest.approx(expected, rel=1e-12), f


def _rolled_up(store: AuditStore) -> int:
    with store.engine.connect() as conn:
        return conn.scalar(select(func.sum(ROLLUP_DAY_TABLE.c.decisions))) or 0


@pytest.fixture
def seeded(store: AuditStore, make_decision: MakeDecision) -> AuditStore:
    """240 decisions over a week: every action, stage, three applications, 0-2 findings, log-normal latencies."""
    _write(store, make_decision, 240, seed=1)
    return store


def test_tail_only_equals_the_log(seeded: AuditStore) -> None:
    assert _rolled_up(seeded) == 0
    _assert_exact(seeded)


def test_refresh_then_new_writes(seeded: AuditStore, make_decision: MakeDecision) -> None:
    assert seeded.refresh_rollups() == 240
    assert _rolled_up(seeded) == 240 and seeded.refresh_rollups() == 0
    _assert_exact(seeded)
    _write(seeded, make_decision, 60, seed=2)  # late writes land in rolled-up days: the tail counts them
    _assert_exact(seeded)
    assert seeded.refresh_rollups() == 60
    assert _rolled_up(seeded) == 300
    _assert_exact(seeded)


def test_answers_come_from_the_rollups(seeded: AuditStore) -> None:
    seeded.refresh_rollups()
    with seeded.engine.begin() as conn:  # a canary: doubled rollups must show in every answer they serve
        found = query.counts(conn, ("scanner", "label"), Filters())
        for table in (ROLLUP_DAY_TABLE, ROLLUP_FINDING_TABLE):
            conn.execute(update(table).values(decisions=table.c.decisions * 2))
    assert seeded.count() == 480
    assert seeded.counts("scanner", "label") == {key: 2 * n for key, n in found.items()}
    assert seeded.count(Filters(subject={"region": "EU"})) < 240  # the log answers what the rollups cannot


def test_refresh_while_writing_stays_exact(seeded: AuditStore, make_decision: MakeDecision) -> None:
    writer = threading.Thread(target=_write, args=(seeded, make_decision, 200, 4))
    writer.start()
    while writer.is_alive():
        seeded.refresh_rollups()
    writer.join()
    seeded.refresh_rollups()
    assert _rolled_up(seeded) == 440
    _assert_exact(seeded)


def test_queries_refresh_when_the_tail_is_long(seeded: AuditStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollups, "REFRESH_AFTER", 100)
    assert seeded.counts("action")
    with seeded.engine.connect() as conn:
        assert rollups.lag(conn) == 0 and rollups.watermark(conn) == 240


def test_purge_takes_decisions_out_of_rollups_and_cache(
    seeded: AuditStore, make_decision: MakeDecision, keys_env: dict[str, str]
) -> None:
    seeded.refresh_rollups()
    _write(seeded, make_decision, 40, seed=3)  # a tail after the watermark (late records: not purged)
    oldest, newest = seeded.decisions(limit=300).items[-1], seeded.decisions(limit=1).items[0]
    for record in (oldest, newest):
        cache.put(seeded.engine, record.id, "pii", "EMAIL_ADDRESS", "m", {"tokens": []})
    cutoff_days = (datetime.now(UTC) - (FIRST + timedelta(days=3, hours=5))).total_seconds() / 86_400
    purged = seeded.purge(older_than_days=cutoff_days).purged
    assert 60 < purged < 200
    assert _rolled_up(seeded) == 240 - purged
    _assert_exact(seeded)
    assert cache.get(seeded.engine, oldest.id, "pii", "EMAIL_ADDRESS", "m") is None
    assert cache.get(seeded.engine, newest.id, "pii", "EMAIL_ADDRESS", "m") == {"tokens": []}
    seeded.refresh_rollups()
    assert _rolled_up(seeded) == 280 - purged
    _assert_exact(seeded)


def test_percentiles_within_the_bucket_error(seeded: AuditStore) -> None:
    seeded.refresh_rollups()
    exact = seeded.to_frame()["latency_ms"].to_numpy()
    found = seeded.latency_percentiles(percentiles=POINTS)
    for p, value in found.items():
        assert value == pytest.approx(np.percentile(exact, p), rel=rollups.BUCKET_ERROR)
    assert seeded.latency_percentiles(Filters(application="none")) == {}


def test_upgrade_of_an_existing_log_catches_up(seeded: AuditStore) -> None:
    with seeded.engine.begin() as conn:  # back to the schema before rollups, the decisions kept
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert upgrade(seeded.engine)
    assert seeded.refresh_rollups() == 240
    _assert_exact(seeded)
