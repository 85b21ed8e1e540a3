"""SQLite: the findings index becomes a ``WITHOUT ROWID`` table clustered on its primary key.

A rowid table keyed ``(decision_seq, ord)`` keeps every finding twice (the table b-tree and the primary-key index);
clustered on the key it is kept once, which makes each insert one b-tree write instead of two. PostgreSQL has no
such distinction: nothing changes there.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Rebuild ``audit_finding`` without a rowid (SQLite only), keeping its rows."""
    _rebuild(with_rowid=False)


def downgrade() -> None:
    """Rebuild ``audit_finding`` as a rowid table (SQLite only), keeping its rows."""
    _rebuild(with_rowid=True)


def _rebuild(*, with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Alembic's batch mode copies the reflected table into a new one created with these options, then swaps them.
    with op.batch_alter_table("audit_finding", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}):
        pass
