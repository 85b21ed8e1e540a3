"""Per-day rollups of the decision log (counts by dimensions, findings, latency histograms) and their watermark.

The tables start empty with the watermark at 0: the store fills them from the log on its first aggregate query
(or ``AuditStore.refresh_rollups()``), so upgrading a large database stays quick.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _dims() -> list[sa.Column]:
    return [
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("application", sa.String(200)),
        sa.Column("model", sa.String(200)),
        sa.Column("policy_name", sa.String(200), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("policy_sha256", sa.String(64), nullable=False),
    ]


def upgrade() -> None:
    """Create the rollup tables (empty) and the watermark row."""
    op.create_table(
        "audit_rollup_day",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("decisions", sa.BigInteger(), nullable=False),
        sa.Column("latency", sa.Text(), nullable=False),
        *_dims(),
        sa.PrimaryKeyConstraint("id", name="pk_audit_rollup_day"),
    )
    op.create_index("ix_audit_rollup_day_day", "audit_rollup_day", ["day"])
    op.create_table(
        "audit_rollup_finding",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("scanner", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("decisions", sa.BigInteger(), nullable=False),
        *_dims(),
        sa.PrimaryKeyConstraint("id", name="pk_audit_rollup_finding"),
    )
    op.create_index("ix_audit_rollup_finding_day", "audit_rollup_finding", ["day"])
    state = op.create_table(
        "audit_rollup_state",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_audit_rollup_state"),
    )
    op.bulk_insert(state, [{"name": "decision", "seq": 0}])


def downgrade() -> None:
    """Drop the rollup tables."""
    for table in ("audit_rollup_state", "audit_rollup_finding", "audit_rollup_day"):
        op.drop_table(table)
