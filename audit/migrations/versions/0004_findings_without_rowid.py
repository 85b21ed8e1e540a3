"""SQLite: the findings index becomes a ``WITHOUT ROWID`` table clustered on its primary key.

A rowid table keyed ``(decision_seq, ord)`` keeps every finding twice (the table b-tree and the primary-key index);
clustered on the key it is kept once, which makes each insert one b-tree write instead of two. PostgreSQL has no
such distinction: nothing changes there.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = "decision_seq, ord, scanner, label, score, span_start, span_end"


def upgrade() -> None:
    """Rebuild ``audit_finding`` without a rowid (SQLite only), keeping its rows."""
    _rebuild(with_rowid=False)


def downgrade() -> None:
    """Rebuild ``audit_finding`` as a rowid table (SQLite only), keeping its rows."""
    _rebuild(with_rowid=True)


def _rebuild(*, with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("ALTER TABLE audit_finding RENAME TO audit_finding_old")
    op.create_table(
        "audit_finding",
        sa.Column("decision_seq", sa.BigInteger(), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("scanner", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("span_start", sa.Integer()),
        sa.Column("span_end", sa.Integer()),
        sa.PrimaryKeyConstraint("decision_seq", "ord", name="pk_audit_finding"),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(
        f"INSERT INTO audit_finding ({COLUMNS}) SELECT {COLUMNS} FROM audit_finding_old ORDER BY decision_seq, ord"
    )
    op.drop_table("audit_finding_old")
