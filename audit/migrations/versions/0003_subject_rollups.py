"""Per-day subject-attribute cells (``audit_rollup_subject``) and the attributes left out of them.

The new table must cover the same decisions as the other rollups, so the watermark goes back to 0 and every
rollup is rebuilt from the log by the next refresh (``ombud audit rollup``, or the first aggregate query).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the subject rollup (empty) and rewind the other rollups to be rebuilt with it."""
    op.create_table(
        "audit_rollup_subject",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("maker", sa.String(64)),
        sa.Column("attribute", sa.String(64)),
        sa.Column("value", sa.String(64)),
        sa.Column("prediction", sa.String(16), nullable=False),
        sa.Column("truth", sa.String(8)),
        sa.Column("decisions", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("application", sa.String(200)),
        sa.Column("model", sa.String(200)),
        sa.Column("policy_name", sa.String(200), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("policy_sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_rollup_subject"),
    )
    op.create_index("ix_audit_rollup_subject_day", "audit_rollup_subject", ["day"])
    op.create_table(
        "audit_rollup_skipped",
        sa.Column("attribute", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("attribute", name="pk_audit_rollup_skipped"),
    )
    op.execute("DELETE FROM audit_rollup_day")
    op.execute("DELETE FROM audit_rollup_finding")
    op.execute("UPDATE audit_rollup_state SET seq = 0")


def downgrade() -> None:
    """Drop the subject rollup tables (the other rollups stay as they are: they were maintained alongside)."""
    for table in ("audit_rollup_skipped", "audit_rollup_subject"):
        op.drop_table(table)
