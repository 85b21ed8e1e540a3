"""The audit tables as a typed SQLAlchemy 2.0 ORM with its own ``Base``; rows never leave the ``audit`` package.

Times are stored as integer microseconds since the Unix epoch (UTC): exact, portable between SQLite and
PostgreSQL, cheap to index and to bucket by day in SQL, and identical in the hashed canonical form.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# INTEGER PRIMARY KEY is SQLite's rowid alias (fast); BIGINT elsewhere.
SeqType = BigInteger().with_variant(Integer, "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the audit tables (own metadata, so it never mixes with other packages' tables)."""

    metadata = MetaData(naming_convention=NAMING)


class DecisionRow(Base):
    """One guard decision, hash-chained on ``seq``. Never holds raw text: ``original_enc`` is Fernet ciphertext."""

    __tablename__ = "audit_decision"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    ts_us: Mapped[int] = mapped_column(BigInteger, index=True)
    stage: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(128))
    application: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    policy_name: Mapped[str] = mapped_column(String(200))
    policy_version: Mapped[str] = mapped_column(String(64))
    policy_sha256: Mapped[str] = mapped_column(String(64))
    latency_ms: Mapped[float] = mapped_column(Float)
    safe_text: Mapped[str] = mapped_column(Text)
    original_length: Mapped[int] = mapped_column(Integer)
    original_enc: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    rules: Mapped[str] = mapped_column(Text)
    verdicts: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index(None, "action", "seq"),
        Index(None, "application", "seq"),
        Index(None, "policy_name", "seq"),
    )


class FindingRow(Base):
    """Query index of the findings of a decision (derived from ``DecisionRow.verdicts``; checked by verify).

    On SQLite a ``WITHOUT ROWID`` table: the rows live in the primary-key b-tree, so an insert writes one b-tree.
    """

    __tablename__ = "audit_finding"
    __table_args__ = ({"sqlite_with_rowid": False},)

    decision_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ord: Mapped[int] = mapped_column(Integer, primary_key=True)
    scanner: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    span_start: Mapped[int | None] = mapped_column(Integer)
    span_end: Mapped[int | None] = mapped_column(Integer)


class FeedbackRow(Base):
    """A reviewer's verdict on a decision, kept as its own record on its own hash chain."""

    __tablename__ = "audit_feedback"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    decision_id: Mapped[str] = mapped_column(String(64), index=True)
    ts_us: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class PolicyRow(Base):
    """A policy version (by content hash) with its canonical document and when decisions used it.

    ``document`` is ``None`` for a policy that decisions name but ``register_policy`` never stored: the row is
    still there, so ``verify`` notices when policy rows are deleted (it checks each decision against its row).
    """

    __tablename__ = "audit_policy"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(64))
    document: Mapped[str | None] = mapped_column(Text)
    first_seen_us: Mapped[int] = mapped_column(BigInteger)
    last_seen_us: Mapped[int] = mapped_column(BigInteger)


class ChainRow(Base):
    """The head of one hash chain (``decision`` or ``feedback``): last sequence number and hash.

    Updated in the same transaction as the records; its row lock serialises writers on PostgreSQL.
    """

    __tablename__ = "audit_chain"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class CheckpointRow(Base):
    """A signed statement that chain ``chain`` had hash ``hash`` at ``seq`` (written when a prefix is purged)."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    created_us: Mapped[int] = mapped_column(BigInteger)
    purged: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index(None, "chain", "seq"),)


class _RollupDims:
    """The decision columns every rollup is keyed by (besides the day); filters on them are answered by rollups."""

    day: Mapped[int] = mapped_column(Integer, index=True)
    stage: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    application: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    policy_name: Mapped[str] = mapped_column(String(200))
    policy_version: Mapped[str] = mapped_column(String(64))
    policy_sha256: Mapped[str] = mapped_column(String(64))


class RollupDayRow(_RollupDims, Base):
    """Decisions of one UTC day (days since the epoch) with one set of dimensions, and their latency histogram.

    ``latency`` is a JSON list of ``[bucket, count]`` pairs (see ``audit.rollups.bucket``). Derived data: covers
    the decisions up to ``RollupStateRow.seq`` and is rebuilt from the log at will.
    """

    __tablename__ = "audit_rollup_day"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    decisions: Mapped[int] = mapped_column(BigInteger)
    latency: Mapped[str] = mapped_column(Text)


class RollupFindingRow(_RollupDims, Base):
    """Decisions of one day and set of dimensions with at least one finding of ``scanner``/``label``."""

    __tablename__ = "audit_rollup_finding"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    scanner: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200))
    decisions: Mapped[int] = mapped_column(BigInteger)


class RollupSubjectRow(_RollupDims, Base):
    """Decisions of one day and set of dimensions per subject attribute value, decision maker and prediction.

    ``maker`` is None for the guard (``prediction`` its action) or a model outcome key (``prediction`` "true",
    "false" or "" when not boolean; ``truth`` the inline ground truth, "true"/"false"/None). ``attribute`` None
    holds the maker's total, so the decisions lacking an attribute are the total less its values. See
    ``audit.subjects``.
    """

    __tablename__ = "audit_rollup_subject"

    id: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    maker: Mapped[str | None] = mapped_column(String(64))
    attribute: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(String(64))
    prediction: Mapped[str] = mapped_column(String(16))
    truth: Mapped[str | None] = mapped_column(String(8))
    decisions: Mapped[int] = mapped_column(BigInteger)


class RollupSkippedRow(Base):
    """A subject attribute left out of ``audit_rollup_subject`` for good (too many or too long values)."""

    __tablename__ = "audit_rollup_skipped"

    attribute: Mapped[str] = mapped_column(String(64), primary_key=True)


class RollupStateRow(Base):
    """The rollups' watermark: decisions with ``seq`` up to here are counted in them (one row, ``decision``)."""

    __tablename__ = "audit_rollup_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


DECISION_TABLE = cast(Table, DecisionRow.__table__)
FINDING_TABLE = cast(Table, FindingRow.__table__)
FEEDBACK_TABLE = cast(Table, FeedbackRow.__table__)
POLICY_TABLE = cast(Table, PolicyRow.__table__)
CHAIN_TABLE = cast(Table, ChainRow.__table__)
CHECKPOINT_TABLE = cast(Table, CheckpointRow.__table__)
ROLLUP_DAY_TABLE = cast(Table, RollupDayRow.__table__)
ROLLUP_FINDING_TABLE = cast(Table, RollupFindingRow.__table__)
ROLLUP_SUBJECT_TABLE = cast(Table, RollupSubjectRow.__table__)
ROLLUP_SKIPPED_TABLE = cast(Table, RollupSkippedRow.__table__)
ROLLUP_STATE_TABLE = cast(Table, RollupStateRow.__table__)
