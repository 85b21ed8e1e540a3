"""Schema migrations keep existing logs readable and verifiable."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from audit import AuditStore, Problem
from audit.migrate import _config, current_revision, head_revision, upgrade
from guards.types import Finding

from .conftest import MakeDecision


def test_findings_index_rebuilt_without_rowid_keeps_every_finding(
    store: AuditStore, make_decision: MakeDecision
) -> None:
    """0003 -> 0004: a log written with the rowid findings table still verifies and answers scanner queries."""
    findings = (Finding("EMAIL_ADDRESS", 0.9, 0, 5), Finding("PERSON", 0.8, 6, 9))
    for _ in range(3):
        store.write(make_decision(findings=findings))
    store.flush()
    _downgrade(store, "0003")
    store.write(make_decision(findings=findings))  # written into the old table
    store.flush()
    assert current_revision(store.engine) == "0003"
    assert upgrade(store.engine) and current_revision(store.engine) == head_revision()
    assert store.verify().ok
    assert store.counts("label") == {("EMAIL_ADDRESS",): 4, ("PERSON",): 4}
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            ddl = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'audit_finding'"))
        assert "WITHOUT ROWID" in ddl


def _downgrade(store: AuditStore, revision: str) -> None:
    with store.engine.begin() as conn:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_policies_named_by_older_decisions_get_their_row(store: AuditStore, make_decision: MakeDecision) -> None:
    """0004 -> 0005: a log written without registered policies gains a row per named policy, so deleting them
    all is then reported."""
    for _ in range(3):
        store.write(make_decision())
    store.flush()
    _downgrade(store, "0004")
    with store.engine.connect() as conn:
        assert conn.scalar(text("SELECT COUNT(*) FROM audit_policy")) == 0
    assert upgrade(store.engine) and current_revision(store.engine) == head_revision()
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT name, document, first_seen_us <= last_seen_us FROM audit_policy")).all()
    assert [(r[0], r[1], bool(r[2])) for r in rows] == [(make_decision().policy.name, None, True)]
    assert store.verify().ok
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_policy"))
    assert store.verify().first_problem.problem == Problem.DELETED
