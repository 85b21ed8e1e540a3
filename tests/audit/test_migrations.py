"""Schema migrations keep existing logs readable and verifiable."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from audit import AuditStore
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
    with store.engine.begin() as conn:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
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
