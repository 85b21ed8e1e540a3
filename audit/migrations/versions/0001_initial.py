"""Initial audit schema: decisions, findings index, feedback, policies, chain heads, checkpoints.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every audit table and the two chain heads."""
    op.create_table(
        "audit_decision",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.Column("session_id", sa.String(128)),
        sa.Column("application", sa.String(200)),
        sa.Column("model", sa.String(200)),
        sa.Column("policy_name", sa.String(200), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("policy_sha256", sa.String(64), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("safe_text", sa.Text(), nullable=False),
        sa.Column("original_length", sa.Integer(), nullable=False),
        sa.Column("original_enc", sa.Text()),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("verdicts", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_decision"),
        sa.UniqueConstraint("id", name="uq_audit_decision_id"),
    )
    op.create_index("ix_audit_decision_ts_us", "audit_decision", ["ts_us"])
    # (column, seq): filtered listings page on seq, newest first, straight off the index.
    op.create_index("ix_audit_decision_action_seq", "audit_decision", ["action", "seq"])
    op.create_index("ix_audit_decision_application_seq", "audit_decision", ["application", "seq"])
    op.create_index("ix_audit_decision_policy_name_seq", "audit_decision", ["policy_name", "seq"])
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
    )
    op.create_table(
        "audit_feedback",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_feedback"),
        sa.UniqueConstraint("id", name="uq_audit_feedback_id"),
    )
    op.create_index("ix_audit_feedback_decision_id", "audit_feedback", ["decision_id"])
    op.create_table(
        "audit_policy",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("first_seen_us", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_audit_policy"),
    )
    op.create_index("ix_audit_policy_name", "audit_policy", ["name"])
    chain = op.create_table(
        "audit_chain",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_audit_chain"),
    )
    op.bulk_insert(chain, [{"name": n, "seq": 0, "hash": GENESIS} for n in ("decision", "feedback")])
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("purged", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoint"),
    )
    op.create_index("ix_audit_checkpoint_chain_seq", "audit_checkpoint", ["chain", "seq"])


def downgrade() -> None:
    """Drop every audit table."""
    for table in (
        "audit_checkpoint",
        "audit_chain",
        "audit_policy",
        "audit_feedback",
        "audit_finding",
        "audit_decision",
    ):
        op.drop_table(table)
