"""Brings a database to the current audit schema with the Alembic migrations shipped in ``audit/migrations``."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from audit.config import IMMEDIATE

log = logging.getLogger(__name__)

VERSION_TABLE = "audit_alembic_version"
_MIGRATION_LOCK = 0x0B0D_A0D1  # pg advisory lock key: one migrator at a time across processes and servers


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def head_revision() -> str:
    """The newest schema revision shipped with this package."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def is_known_revision(revision: str | None) -> bool:
    """Whether ``revision`` is one of the schema revisions shipped with this package."""
    return any(r.revision == revision for r in ScriptDirectory.from_config(_config()).walk_revisions())


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (``None`` for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine: Engine) -> bool:
    """Migrate the database to the newest revision; returns True when something was applied.

    Safe to call from many processes at once: the migration runs in one transaction holding the write lock.
    """
    head = head_revision()
    if current_revision(engine) == head:
        return False
    cfg = _config()
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        before = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
        if before == head:
            return False
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    log.info("audit schema migrated from %s to %s", before, head)
    return True
