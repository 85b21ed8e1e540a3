"""ombud's audit engine: every guard decision in a tamper-evident SQL log (SQLite by default, PostgreSQL in production).

``AuditStore`` is the guard's sink; ``open_store(url)`` is the ``ombud.sinks`` entry point. See ``docs/audit.md``.
"""

from audit.chain import ChainReport, Problem, VerifyReport
from audit.errors import AuditConfigError, AuditKeyError, AuditTampered
from audit.query import GROUPS, Filters, Page
from audit.records import AuditRecord, Feedback, PolicyVersion
from audit.retention import PurgeReport
from audit.store import DEFAULT_RETENTION_DAYS, AuditStore, open_store

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "GROUPS",
    "AuditConfigError",
    "AuditKeyError",
    "AuditRecord",
    "AuditStore",
    "AuditTampered",
    "ChainReport",
    "Feedback",
    "Filters",
    "Page",
    "PolicyVersion",
    "Problem",
    "PurgeReport",
    "VerifyReport",
    "open_store",
]
