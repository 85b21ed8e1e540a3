"""Alembic environment: runs on the connection handed over by ``audit.migrate.upgrade`` (never from alembic.ini)."""

from alembic import context

from audit.migrate import VERSION_TABLE
from audit.schema import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
