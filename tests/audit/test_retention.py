"""Purge removes the expired prefix, leaves a signed checkpoint, and the rest of the chain still verifies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from audit import AuditKeyError, AuditStore, AuditTampered, Problem
from audit.keys import SIGNING_KEY_ENV, VERIFY_KEY_ENV, generate
from guards.cli import main
from guards.types import Decision

MakeDecision = Callable[..., Decision]
OLD = datetime.now(UTC) - timedelta(days=200)


def _fill(store: AuditStore, make_decision: MakeDecision, ages: list[int]) -> list[Decision]:
    decisions = [make_decision(timestamp=datetime.now(UTC) - timedelta(days=age)) for age in ages]
    for d in decisions:
        store.write(d)
    store.flush()
    return decisions


def _sql(url: str, statement: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_purge_keeps_the_chain_verifiable(db_url: str, keys_env: dict[str, str], make_decision: MakeDecision) -> None:
    with AuditStore(db_url) as store:
        decisions = _fill(store, make_decision, [200] * 6 + [10] * 4)
        store.add_feedback(decisions[-1].id, label="confirmed", reviewer="ann")
        report = store.purge()  # default retention: 183 days
        assert [(c.chain, c.purged, c.checkpoint_seq) for c in report.chains] == [
            ("decision", 6, 6),
            ("feedback", 0, None),
        ]
        assert store.count() == 4
        assert store.get_decision(decisions[0].id) is None
        verified = store.verify()
        assert verified.ok, verified.first_problem
        assert verified.chains[0].start_checkpoint == 6 and verified.chains[0].first_seq == 7
        _fill(store, make_decision, [0, 0])  # writing goes on after the checkpoint
        assert store.verify().ok
        assert store.purge().purged == 0  # nothing more has expired


def test_only_a_contiguous_prefix_is_purged(db_url: str, keys_env: dict[str, str], make_decision: MakeDecision) -> None:
    with AuditStore(db_url) as store:
        _fill(store, make_decision, [300, 250, 5, 240, 1])
        assert store.purge(older_than_days=183).purged == 2  # record 4 is old but follows a newer one
        assert store.count() == 3 and store.verify().ok


def test_purging_everything_leaves_an_empty_valid_chain(
    db_url: str, keys_env: dict[str, str], make_decision: MakeDecision
) -> None:
    with AuditStore(db_url) as store:
        _fill(store, make_decision, [400, 300])
        assert store.purge().purged == 2
        assert store.count() == 0 and store.verify().ok
        _fill(store, make_decision, [0])
        report = store.verify()
        assert report.ok and report.chains[0].first_seq == 3


def test_purge_needs_the_signing_key(
    store: AuditStore, make_decision: MakeDecision, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    _fill(store, make_decision, [400])
    with pytest.raises(AuditKeyError, match=SIGNING_KEY_ENV):
        store.purge()


def test_checkpoints_need_the_right_key(
    db_url: str, keys_env: dict[str, str], make_decision: MakeDecision, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AuditStore(db_url) as store:
        _fill(store, make_decision, [400, 1])
        store.purge()
    monkeypatch.delenv(SIGNING_KEY_ENV)
    monkeypatch.delenv(VERIFY_KEY_ENV)
    with AuditStore(db_url) as store:
        report = store.verify()
        assert report.first_problem is not None and report.first_problem.problem is Problem.CHECKPOINT
        assert VERIFY_KEY_ENV in report.first_problem.message
    assert main(["audit", "verify", "--db", db_url]) == 2  # unverifiable for want of a key: not tampered (1)
    monkeypatch.setenv(VERIFY_KEY_ENV, generate()[VERIFY_KEY_ENV])  # someone else's key
    with AuditStore(db_url) as store:
        report = store.verify()
        assert report.first_problem is not None and "invalid signature" in report.first_problem.message
    assert main(["audit", "verify", "--db", db_url]) == 1
    monkeypatch.setenv(VERIFY_KEY_ENV, keys_env[VERIFY_KEY_ENV])  # the auditor's public key suffices
    with AuditStore(db_url) as store:
        assert store.verify().ok


@pytest.mark.parametrize(
    ("statement", "problem", "seq"),
    [
        ("UPDATE audit_checkpoint SET seq = 1", Problem.CHECKPOINT, None),
        ("DELETE FROM audit_decision WHERE seq = 3", Problem.DELETED, 3),
        ("DELETE FROM audit_checkpoint", Problem.DELETED, 1),
    ],
    ids=["forged-checkpoint", "delete-after-checkpoint", "drop-checkpoint"],
)
def test_tampering_around_a_checkpoint_is_found(
    db_url: str, keys_env: dict[str, str], make_decision: MakeDecision, statement: str, problem: Problem, seq: int
) -> None:
    with AuditStore(db_url) as store:
        _fill(store, make_decision, [400, 400, 1, 1])
        store.purge()
    _sql(db_url, statement)
    with AuditStore(db_url) as store:
        report = store.verify().first_problem
    assert report is not None and (report.problem, report.seq) == (problem, seq), report.message


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_decision SET ts_us = 0 WHERE seq <= 3",  # backdated so that they expire
        "UPDATE audit_decision SET safe_text = 'x' WHERE seq = 1",  # an old record edited
        "DELETE FROM audit_decision WHERE seq = 2",
    ],
    ids=["backdated", "edited", "deleted"],
)
def test_purge_refuses_to_sign_over_tampered_records(
    db_url: str, keys_env: dict[str, str], make_decision: MakeDecision, statement: str
) -> None:
    """A purge deleted whatever had expired by its timestamp and signed a checkpoint over it: records backdated by
    someone without any key vanished, and verify then passed (QA)."""
    with AuditStore(db_url) as store:
        _fill(store, make_decision, [300, 1, 1, 1])
    _sql(db_url, statement)
    with AuditStore(db_url) as store:
        count = store.count()
        with pytest.raises(AuditTampered, match="refusing to purge the decision chain"):
            store.purge()
        assert store.count() == count and not store.verify().ok
    assert main(["audit", "purge", "--db", db_url]) == 1
