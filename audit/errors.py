"""Errors of the audit store; all derive from ``guards.errors.SinkError`` so the guard can fail closed on them."""

from __future__ import annotations

from guards.errors import SinkError


class AuditConfigError(SinkError):
    """The store cannot be opened or used as configured: a bad URL, an unreachable database, a missing key."""


class AuditDatabaseGone(SinkError):
    """The SQLite file the store writes to was deleted while it was open; records stay queued and journaled."""


class AuditKeyError(AuditConfigError):
    """A key the operation needs (encryption or checkpoint signing) is missing or malformed."""


class AuditTampered(SinkError):
    """The audit log does not verify where an operation needs it intact (a purge of tampered records)."""


class AuditValueError(SinkError, TypeError):
    """A value the store would not keep exactly as it hashes it (a number where a column holds text, a non-integer
    length, a non-finite latency): refused at ``write``/``add_feedback``, naming the field, so that a legitimate log
    always verifies."""
