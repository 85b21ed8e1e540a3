"""Verification names the first record that was edited, deleted, inserted or reordered."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from audit import AuditStore, Problem
from audit.chain import DECISIONS
from guards.types import Decision, Finding, PolicyRef

MakeDecision = Callable[..., Decision]
N = 10


@pytest.fixture
def filled(db_url: str, make_decision: MakeDecision) -> str:
    """A database with N decisions (record 7 has two findings) and two feedback records."""
    with AuditStore(db_url) as store:
        for i in range(1, N + 1):
            findings = (Finding("EMAIL_ADDRESS", 0.9, 3, 9), Finding("PERSON", 0.8, 10, 14)) if i == 7 else ()
            store.write(make_decision(findings=findings) if i == 7 else make_decision())
        store.flush()
        first = store.decisions(limit=1).items[0].id
        store.add_feedback(first, label="false_positive", reviewer="ann")
        store.add_feedback(first, label="confirmed", reviewer="bob")
        assert store.verify().ok
    return db_url


@pytest.fixture
def sql(filled: str) -> Iterator[Callable[..., Any]]:
    """Run raw SQL against the filled database, as an attacker with write access would."""
    engine = create_engine(filled)

    def run(statement: str, **params: Any) -> Any:
        with engine.begin() as conn:
            return conn.execute(text(statement), params)

    yield run
    engine.dispose()


def _verify(url: str) -> Any:
    with AuditStore(url) as store:
        report = store.verify()
    assert not report.ok
    return report.first_problem


@pytest.mark.parametrize(
    ("statements", "chain", "problem", "seq"),
    [
        (["UPDATE audit_decision SET safe_text = 'nothing to see' WHERE seq = 5"], "decision", Problem.EDITED, 5),
        (["UPDATE audit_decision SET action = 'allow' WHERE seq = 1"], "decision", Problem.EDITED, 1),
        (["UPDATE audit_finding SET label = 'NONE' WHERE decision_seq = 7 AND ord = 1"], "decision", Problem.EDITED, 7),
        (["DELETE FROM audit_finding WHERE decision_seq = 7 AND ord = 0"], "decision", Problem.EDITED, 7),
        (["DELETE FROM audit_decision WHERE seq = 5"], "decision", Problem.DELETED, 5),
        (["DELETE FROM audit_decision WHERE seq IN (4, 5, 6)"], "decision", Problem.DELETED, 4),
        ([f"DELETE FROM audit_decision WHERE seq = {N}"], "decision", Problem.DELETED, N),
        (
            [
                "UPDATE audit_decision SET seq = -5 WHERE seq = 5",
                "UPDATE audit_decision SET seq = 5 WHERE seq = 6",
                "UPDATE audit_decision SET seq = 6 WHERE seq = -5",
            ],
            "decision",
            Problem.REORDERED,
            5,
        ),
        (["UPDATE audit_feedback SET label = 'confirmed' WHERE seq = 1"], "feedback", Problem.EDITED, 1),
        (["DELETE FROM audit_feedback WHERE seq = 1"], "feedback", Problem.DELETED, 1),
    ],
    ids=[
        "edit-text",
        "edit-action",
        "edit-finding",
        "drop-finding",
        "delete",
        "delete-range",
        "delete-tail",
        "reorder",
        "edit-feedback",
        "delete-feedback",
    ],
)
def test_tampering_is_located(
    filled: str, sql: Callable[..., Any], statements: list[str], chain: str, problem: Problem, seq: int
) -> None:
    for statement in statements:
        sql(statement)
    report = _verify(filled)
    assert (report.chain, report.problem, report.seq) == (chain, problem, seq), report.message
    assert str(seq) in report.message


def _forge(sql: Callable[..., Any], seq: int, prev_hash: str) -> None:
    """Insert a well-formed record with a valid own hash at ``seq``, linked to ``prev_hash``."""
    columns = DECISIONS.fields[2:]
    row = sql(f"SELECT {', '.join(columns)} FROM audit_decision WHERE seq = 1").one()
    values = (seq, prev_hash, "f" * 32, *row[1:])
    digest = DECISIONS.digest(values, [])
    names = ", ".join(DECISIONS.fields)
    params = {f"p{i}": v for i, v in enumerate((*values, digest))}
    sql(f"INSERT INTO audit_decision ({names}, hash) VALUES ({', '.join(':' + p for p in params)})", **params)


def test_a_record_appended_behind_the_head_is_found(filled: str, sql: Callable[..., Any]) -> None:
    last = sql(f"SELECT hash FROM audit_decision WHERE seq = {N}").scalar()
    _forge(sql, N + 1, last)
    report = _verify(filled)
    assert (report.problem, report.seq, report.record_id) == (Problem.INSERTED, N + 1, "f" * 32)


def test_a_record_replaced_in_the_middle_is_found(filled: str, sql: Callable[..., Any]) -> None:
    before = sql("SELECT hash FROM audit_decision WHERE seq = 4").scalar()
    sql("DELETE FROM audit_decision WHERE seq = 5")
    sql("DELETE FROM audit_finding WHERE decision_seq = 5")
    _forge(sql, 5, before)
    report = _verify(filled)
    assert (report.problem, report.seq, report.record_id) == (Problem.INSERTED, 5, "f" * 32)


def test_an_untouched_chain_verifies(filled: str) -> None:
    with AuditStore(filled) as store:
        report = store.verify()
    assert report.ok
    assert [(c.chain, c.checked, c.first_seq, c.last_seq) for c in report.chains] == [
        ("decision", N, 1, N),
        ("feedback", 2, 1, 2),
        ("policy", 0, None, None),
    ]


def test_parallel_verify_agrees_with_the_sequential_walk(
    filled: str, sql: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audit.chain.PARALLEL_MIN", N)  # the decision chain (N records) goes parallel
    with AuditStore(filled) as store:
        assert store.verify(workers=2).ok
    sql("UPDATE audit_decision SET safe_text = 'nothing to see' WHERE seq = 8")
    with AuditStore(filled) as store:
        report = store.verify(workers=2).first_problem
    assert report is not None and (report.problem, report.seq) == (Problem.EDITED, 8)


def test_a_findings_row_with_a_text_seq_is_reported_not_raised(
    db_url: str, filled: str, sql: Callable[..., Any]
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL refuses text in a bigint column")
    sql(f"UPDATE audit_finding SET decision_seq = 'x{N}' WHERE decision_seq = {N}")
    report = _verify(filled)
    assert (report.chain, report.problem) == ("decision", Problem.INSERTED) and f"'x{N}'" in report.message


@pytest.mark.parametrize("seq", [0, -5])
def test_a_record_before_the_first_names_the_chain_start(filled: str, sql: Callable[..., Any], seq: int) -> None:
    rest = ", ".join(DECISIONS.fields[3:])  # after seq, prev_hash, id
    sql(
        f"INSERT INTO audit_decision (seq, prev_hash, id, {rest}, hash) SELECT {seq}, prev_hash, 'z', {rest}, hash "
        "FROM audit_decision WHERE seq = 1"
    )
    report = _verify(filled)
    assert (report.problem, report.seq) == (Problem.INSERTED, seq)
    assert report.message == f"record {seq} lies before the chain's first record"


DOCUMENTS = {version: f"name: default\nversion: {version}\n" for version in ("1", "2")}
REFS = {v: PolicyRef("default", v, hashlib.sha256(d.encode()).hexdigest()) for v, d in DOCUMENTS.items()}


@pytest.fixture
def with_policies(db_url: str, make_decision: MakeDecision) -> str:
    """Two registered policy versions, three decisions under version 1."""
    with AuditStore(db_url) as store:
        for version, ref in REFS.items():
            store.register_policy(ref, DOCUMENTS[version])
        for _ in range(3):
            store.write(make_decision(policy=REFS["1"]))
        store.flush()
        assert store.verify().ok
    return db_url


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE audit_policy SET name = 'lenient' WHERE version = '1'", Problem.EDITED),
        ("UPDATE audit_policy SET version = '0' WHERE version = '1'", Problem.EDITED),
        ("DELETE FROM audit_policy WHERE version = '1'", Problem.DELETED),
        ("DELETE FROM audit_policy", Problem.DELETED),
    ],
    ids=["name", "version", "delete", "delete-all"],
)
def test_a_policy_row_is_checked_against_the_decisions_naming_it(
    with_policies: str, statement: str, problem: Problem
) -> None:
    engine = create_engine(with_policies)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()
    report = _verify(with_policies)
    assert (report.chain, report.problem) == ("policy", problem)
    assert REFS["1"].sha256 in report.message and "decision 1" in report.message


def test_every_policy_row_deleted_from_a_log_without_registered_policies_is_reported(
    filled: str, sql: Callable[..., Any]
) -> None:
    """``store.write`` without ``register_policy``: the decisions' own transaction gave their policy a row."""
    with AuditStore(filled) as store:
        policy = store.verify().chains[-1]
    assert policy.ok and "1 policy version(s) named by decisions have no stored document" in policy.message
    sql("DELETE FROM audit_policy")
    report = _verify(filled)
    assert (report.chain, report.problem) == ("policy", Problem.DELETED)
    assert report.message.startswith("the row of policy ") and "named by decision 1, was deleted" in report.message
