"""Alembic migrations of the audit schema, shipped inside the package and applied by ``audit.migrate``."""
