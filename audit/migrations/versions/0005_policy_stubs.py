"""Every policy a decision names gets a row in ``audit_policy``, its document ``NULL`` until registered.

``verify`` checks the decisions against the policy rows naming them; a log written without ``register_policy``
had no row to check against, so deleting every policy row went unnoticed. The store now inserts a row (without
document) for each policy its decisions name, and this revision adds one for every policy the decisions already
stored name without a row.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Make ``document`` nullable and add a row for each policy named by a decision but not stored."""
    with op.batch_alter_table("audit_policy") as batch:
        batch.alter_column("document", existing_type=sa.Text(), nullable=True)
    op.execute(
        "INSERT INTO audit_policy (sha256, name, version, document, first_seen_us, last_seen_us) "
        "SELECT policy_sha256, MIN(policy_name), MIN(policy_version), NULL, MIN(ts_us), MAX(ts_us) "
        "FROM audit_decision WHERE policy_sha256 NOT IN (SELECT sha256 FROM audit_policy) GROUP BY policy_sha256"
    )


def downgrade() -> None:
    """Drop the rows without a document and make ``document`` required again."""
    op.execute("DELETE FROM audit_policy WHERE document IS NULL")
    with op.batch_alter_table("audit_policy") as batch:
        batch.alter_column("document", existing_type=sa.Text(), nullable=False)
