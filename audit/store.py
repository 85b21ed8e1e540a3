"""``AuditStore``: the guard's audit sink on SQL, plus feedback, verification, purge and queries."""

from __future__ import annotations

import atexit
import difflib
import hashlib
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from audit import chain, keys, query, retention, rollups
from audit.config import IMMEDIATE, database_url, make_engine, safe_url
from audit.errors import AuditConfigError, AuditDatabaseGone, AuditKeyError
from audit.journal import Journal, journal_dir, orphans, retire
from audit.migrate import current_revision, head_revision, is_known_revision, upgrade
from audit.records import (
    DECISION_COLUMNS,
    FEEDBACK_COLUMNS,
    FEEDBACK_KINDS,
    AuditRecord,
    Feedback,
    PolicyVersion,
    Prepared,
    check_values,
    from_us,
    prepare_decision,
    to_us,
)
from audit.schema import DECISION_TABLE, POLICY_TABLE, PolicyRow
from audit.writer import BatchWriter
from guards.types import Decision, PolicyRef

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 183
MAX_RETENTION_DAYS = 36_500
"""A hundred years; far longer periods would overflow the 64-bit microsecond timestamps the cut-off is compared with."""
_POLICY = POLICY_TABLE
_DECISION = DECISION_TABLE
_SHA, _TS = DECISION_COLUMNS.index("policy_sha256"), DECISION_COLUMNS.index("ts_us")
_NAME, _VERSION = DECISION_COLUMNS.index("policy_name"), DECISION_COLUMNS.index("policy_version")
_READ_ONLY_HINT = (
    " (SQLite writes -wal and -shm files next to the database, and the store its journal folder: to read a"
    " write-protected copy, pass --read-only, or AuditStore(read_only=True))"
)
_LINGER_S = 0.05  # journaled records may wait this long to share a transaction (they are safe in the journal)
_LAST_SEEN_RESOLUTION_US = 60_000_000  # a policy's last_seen is refreshed at most once a minute per process
_T = TypeVar("_T")


class AuditStore:
    """A tamper-evident audit log of guard decisions in SQLite (default) or PostgreSQL.

    Implements the guard's ``Sink``: ``write`` appends the prepared record to a local journal, queues it and
    returns; a background thread commits batches, each appended to the hash chain under the database write
    lock. A killed process's journal is replayed by the next store opened on the database. ``durable=True``
    makes ``write`` return only once the decision is committed (and makes SQLite fsync each commit);
    ``journal=False`` keeps the queue in memory only. Pending records are flushed at interpreter exit.
    ``create=False`` opens an existing audit log only (for verifying, exporting and reporting): a missing SQLite
    file, or a database without the audit tables, raises ``AuditConfigError`` instead of starting an empty log.
    ``read_only=True`` (implies ``create=False``) reads an existing log without writing anything: no migration,
    journal replay or rollup refresh, a SQLite file opened as immutable (write-protected evidence copies work);
    writing methods raise ``AuditConfigError``. See ``docs/audit.md`` for the exact guarantees.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        durable: bool = False,
        max_queue: int = 100_000,
        max_batch: int = 2_000,
        commit_timeout: float = 30.0,
        journal: bool = True,
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        self.url = database_url(url)
        self.durable = durable
        self.read_only = read_only
        self.commit_timeout = commit_timeout
        create = create and not read_only
        self.engine = make_engine(self.url, durable=durable, create=create, read_only=read_only)
        file_database = self._is_file_database() and not read_only
        try:
            self._open_schema(create=create)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            reason = getattr(exc, "orig", None) or exc
            hint = _READ_ONLY_HINT if file_database and "unable to open database file" in str(reason) else ""
            raise AuditConfigError(f"cannot open the audit database {safe_url(self.url)}: {reason}{hint}") from exc
        self._fernet = keys.fernet_from_env()
        self._max_queue, self._max_batch = max_queue, max_batch
        self._pid = os.getpid()
        self._conn: Connection | None = None
        self._file = _WatchedFile.of(self.engine.url.database) if file_database else None
        self._policy_seen: dict[str, int] = {}
        self._journal_dir = journal_dir(self.url) if journal and not durable and not read_only else None
        if self._journal_dir is not None:
            self._replay(self._journal_dir)
        self._journal = Journal(self._journal_dir) if self._journal_dir is not None else None
        self._writer = self._start_writer()
        self._closed = False
        atexit.register(self.close)

    def _open_schema(self, *, create: bool) -> None:
        """Migrate the schema to the newest revision; without ``create`` the audit tables must exist, and a
        read-only store must find them at the newest revision already."""
        revision = current_revision(self.engine)
        if not create and revision is None:
            self.engine.dispose()
            raise AuditConfigError(f"no audit log in {safe_url(self.url)} (the database has no audit tables)")
        if not self.read_only:
            upgrade(self.engine)
        elif revision != head_revision():
            self.engine.dispose()
            advice = (
                "migrate a writable copy (ombud audit migrate) to read it"
                if is_known_revision(revision)
                else "it was written by a newer ombud: read it with that version"
            )
            raise AuditConfigError(
                f"the audit log in {safe_url(self.url)} is at schema revision {revision}, this version of ombud reads "
                f"{head_revision()}: {advice}"
            )

    def _writable(self) -> None:
        if self.read_only:
            raise AuditConfigError(f"the audit store {safe_url(self.url)} was opened read-only")

    def _start_writer(self) -> BatchWriter[Prepared]:
        journal = self._journal
        return BatchWriter(
            self._commit,
            max_queue=self._max_queue,
            max_batch=self._max_batch,
            name="ombud-audit-writer",
            after_commit=journal.committed if journal is not None else None,
            linger=_LINGER_S if journal is not None else 0.0,
        )

    def _replay(self, directory: Path) -> None:
        """Commit the records that processes killed before committing left in their journals."""
        for path, contents in orphans(directory):
            records = contents.records
            if records:
                for start in range(0, len(records), self._max_batch):
                    self._commit(records[start : start + self._max_batch])
                log.warning("recovered %d audit records from the journal %s", len(records), path.name)
            retire(path, contents)

    def __repr__(self) -> str:
        return f"AuditStore({safe_url(self.url)!r}, durable={self.durable})"

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Sink -----------------------------------------------------------------------------------------------

    def write(self, decision: Decision) -> None:
        """Accept one decision: queue it (default) or commit it before returning (``durable=True``).

        Raises ``SinkError`` when the queue is full (database away for long), and ``AuditKeyError`` when the
        decision carries raw text but ``OMBUD_AUDIT_KEY`` is not set.
        """
        self._writable()
        if decision.original and self._fernet is None:
            raise AuditKeyError(keys.MISSING_ENCRYPTION_KEY)
        if os.getpid() != self._pid:  # forked: the parent's thread, journal and connections are not ours
            self._pid = os.getpid()
            self._conn = None
            self.engine.dispose(close=False)
            self._journal = Journal(self._journal_dir) if self._journal_dir is not None else None
            self._writer = self._start_writer()
        record = prepare_decision(decision, self._encrypt)
        if self._journal is None:
            self._writer.submit(record, wait=self.durable, timeout=self.commit_timeout)
            return
        with self._journal.lock:
            self._writer.submit(record)
            self._journal.append(record)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every decision accepted so far is committed."""
        self._writer.flush(timeout)

    def register_policy(self, policy: PolicyRef, document: str) -> None:
        """Keep the canonical document of a policy version; first/last seen times are maintained. ``policy.sha256``
        must be the SHA-256 of ``document`` (``ombud audit verify`` checks every stored document against it)."""
        self._writable()
        if hashlib.sha256(document.encode()).hexdigest() != policy.sha256:
            raise ValueError(f"the document of policy {policy.name} {policy.version} does not hash to {policy.sha256}")
        now = to_us(datetime.now(UTC))
        values = {
            "sha256": policy.sha256,
            "name": policy.name,
            "version": policy.version,
            "document": document,
        }
        for _ in range(2):  # a concurrent first registration makes the insert fail once
            try:
                with self.engine.begin() as conn:
                    updated = conn.execute(  # a row its decisions made (no document yet) gets the document
                        update(_POLICY)
                        .where(_POLICY.c.sha256 == policy.sha256)
                        .values(last_seen_us=now, document=func.coalesce(_POLICY.c.document, document))
                    ).rowcount
                    if not updated:
                        conn.execute(insert(_POLICY).values(**values, first_seen_us=now, last_seen_us=now))
                return
            except IntegrityError:
                continue

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush pending decisions (waiting at most ``timeout`` seconds), stop the writer, release connections."""
        atexit.unregister(self.close)
        if self._closed:
            return
        self._closed = True
        lost = self._writer.close(timeout)
        if self._journal is not None:
            self._journal.close(keep=lost > 0)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if lost:
            where = " (kept in the journal for the next start)" if self._journal is not None else ""
            log.error("audit store closed with %d decisions not committed%s", lost, where)
        self.engine.dispose()

    def _encrypt(self, text: str) -> str:
        assert self._fernet is not None  # write() refuses raw text without a key
        return self._fernet.encrypt(text.encode()).decode()

    def _commit(self, batch: list[Prepared]) -> None:
        unique = {r.values[0]: r for r in batch}
        records = list(unique.values())
        try:
            self._append(records)
        except IntegrityError:
            with self.engine.connect() as conn:
                known = set(conn.scalars(select(_DECISION.c.id).where(_DECISION.c.id.in_(list(unique)))))
            log.warning("skipping %d audit decisions already stored (duplicate ids)", len(known))
            rest = [r for r in records if r.values[0] not in known]
            if rest:
                self._append(rest)

    def _append(self, records: list[Prepared]) -> None:
        """Append one batch in one transaction, on the writer's own connection (kept between batches)."""
        stale: dict[str, int] = {}
        new: dict[str, tuple[Any, ...]] = {}  # policies this process has not written a decision under yet
        for r in records:
            sha, ts = r.values[_SHA], r.values[_TS]
            if ts - self._policy_seen.get(sha, 0) > _LAST_SEEN_RESOLUTION_US:
                stale[sha] = max(stale.get(sha, 0), ts)
                if sha not in self._policy_seen and sha not in new:
                    new[sha] = (sha, r.values[_NAME], r.values[_VERSION], ts, ts)
        self._check_file()
        if self._conn is None:
            self._conn = self._write_conn()
        conn = self._conn
        try:
            with conn.begin():
                chain.append(conn, chain.DECISIONS, records)
                m = chain.marker(conn)
                if new:  # each named policy has a row, so verify notices a deleted one (the document comes later)
                    conn.exec_driver_sql(
                        "INSERT INTO audit_policy (sha256, name, version, first_seen_us, last_seen_us) "
                        f"VALUES ({m}, {m}, {m}, {m}, {m}) ON CONFLICT (sha256) DO NOTHING",
                        list(new.values()),
                    )
                for sha, ts in stale.items():
                    conn.exec_driver_sql(
                        f"UPDATE audit_policy SET last_seen_us = {m} WHERE sha256 = {m} AND last_seen_us < {m}",
                        (ts, sha, ts),
                    )
        except Exception:
            self._conn = None  # a failed connection is not reused (the pool discards it if it is broken)
            conn.close()
            raise
        self._policy_seen.update(stale)

    def _is_file_database(self) -> bool:
        """Whether this store writes to a SQLite file named by a plain path (not a server, memory or a URI)."""
        url = self.engine.url
        plain = not str(url.database or "").startswith("file:") and "uri" not in url.query
        return url.get_backend_name() == "sqlite" and plain and journal_dir(self.url) is not None

    def _check_file(self) -> None:
        """Refuse to commit into a SQLite file that was deleted while open (the commit would succeed into an
        unlinked file and be lost); follow a file replaced at the same path (a restored backup)."""
        if self._file is None or not self._file.moved():
            return
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()  # pooled connections still read the old file
        if not self._file.holds_audit_log():  # gone, or a file without the log (a reader's reconnect makes one)
            raise AuditDatabaseGone(
                f"the audit database file {self._file.path} was deleted (or replaced by one without the audit log); "
                "records stay queued (and journaled) until it is back"
            )
        log.warning("the audit database file %s was replaced; writing to the new file", self._file.path)
        self._file = _WatchedFile.of(str(self._file.path))

    def _write_conn(self) -> Connection:
        return self.engine.connect().execution_options(**{IMMEDIATE: True})

    # -- feedback, policies ---------------------------------------------------------------------------------

    def add_feedback(self, decision_id: str, *, label: str, reviewer: str, note: str = "") -> Feedback:
        """Record a reviewer's verdict on a decision as its own hash-chained record (committed on return).

        ``label``, ``reviewer`` and ``note`` must be strings (``AuditValueError`` otherwise)."""
        self._writable()
        values = (uuid.uuid4().hex, decision_id, to_us(datetime.now(UTC)), label, reviewer, note)
        check_values(FEEDBACK_COLUMNS, FEEDBACK_KINDS, values)
        if self.get_decision(decision_id) is None:
            self.flush(self.commit_timeout)
            if self.get_decision(decision_id) is None:
                raise LookupError(f"no audited decision with id {decision_id!r}")
        with self._write_conn() as conn, conn.begin():
            seq = chain.append(conn, chain.FEEDBACK, [Prepared(values, [])])
        return Feedback(values[0], decision_id, label, reviewer, note, from_us(values[2]), seq)

    def list_policies(self, name: str | None = None) -> list[PolicyVersion]:
        """Every registered policy version, newest first (optionally only those named ``name``)."""
        stmt = select(PolicyRow).where(PolicyRow.document.is_not(None)).order_by(PolicyRow.first_seen_us.desc())
        if name is not None:
            stmt = stmt.where(PolicyRow.name == name)
        with self.engine.connect() as conn:
            return [
                PolicyVersion(
                    r.name, r.version, r.sha256, r.document, from_us(r.first_seen_us), from_us(r.last_seen_us)
                )
                for r in conn.execute(stmt)
            ]

    def policy_diff(self, old_sha256: str, new_sha256: str) -> str:
        """A unified diff between two stored policy documents."""
        docs = {p.sha256: p for p in self.list_policies() if p.sha256 in (old_sha256, new_sha256)}
        missing = [s for s in (old_sha256, new_sha256) if s not in docs]
        if missing:
            raise LookupError(f"unknown policy version(s): {', '.join(missing)}")
        old, new = docs[old_sha256], docs[new_sha256]
        return "".join(
            difflib.unified_diff(
                old.document.splitlines(keepends=True),
                new.document.splitlines(keepends=True),
                f"{old.name}@{old.version} ({old_sha256[:12]})",
                f"{new.name}@{new.version} ({new_sha256[:12]})",
            )
        )

    # -- integrity and retention ----------------------------------------------------------------------------

    def verify(self, *, workers: int = 1) -> chain.VerifyReport:
        """Check every hash chain from its start (or signed checkpoint) to the head.

        With ``workers > 1``, chains of ``chain.PARALLEL_MIN`` records or more are hashed by that many processes
        (worth it on an otherwise idle multi-core machine; an in-memory SQLite database always uses one).
        """
        if journal_dir(self.url) is None and self.engine.dialect.name == "sqlite":
            workers = 1  # an in-memory database cannot be opened by another process
        with chain.snapshot(self.engine) as conn:
            return chain.verify(
                conn, keys.verify_key_from_env(), url=self.url, workers=workers, read_only=self.read_only
            )

    def purge(self, *, older_than_days: float = DEFAULT_RETENTION_DAYS) -> retention.PurgeReport:
        """Delete records older than the retention period, leaving a signed checkpoint of the purged prefix.

        ``older_than_days`` must be above 0 (and at most ``MAX_RETENTION_DAYS``): a period of 0 or less would purge
        the whole log."""
        if not 0 < older_than_days <= MAX_RETENTION_DAYS:  # also refuses NaN
            raise ValueError(f"older_than_days must be above 0 and at most {MAX_RETENTION_DAYS}, not {older_than_days}")
        self._writable()
        private = keys.signing_key_from_env()
        if private is None:
            raise AuditKeyError(keys.MISSING_SIGNING_KEY)
        cutoff = to_us(datetime.now(UTC)) - int(older_than_days * 86_400_000_000)
        with self._write_conn() as conn, conn.begin():
            return retention.purge(conn, cutoff_us=cutoff, signing_key=private)

    # -- queries --------------------------------------------------------------------------------------------

    def get_decision(self, decision_id: str) -> AuditRecord | None:
        """The stored decision with its feedback, or None."""
        with self.engine.connect() as conn:
            return query.get_decision(conn, decision_id)

    def original_text(self, decision_id: str) -> str | None:
        """Decrypt the raw text kept for a decision (policy opted in); needs ``OMBUD_AUDIT_KEY``."""
        with self.engine.connect() as conn:
            token = conn.scalar(select(_DECISION.c.original_enc).where(_DECISION.c.id == decision_id))
        if token is None:
            return None
        if self._fernet is None:
            raise AuditKeyError(keys.MISSING_ENCRYPTION_KEY)
        return keys.decrypt(self._fernet, token)

    def feedback(self, decision_id: str | None = None) -> list[Feedback]:
        """Reviewer feedback, oldest first (for one decision, or all)."""
        with self.engine.connect() as conn:
            return query.feedback(conn, decision_id)

    def decisions(
        self, filters: query.Filters | None = None, *, limit: int = 50, before_seq: int | None = None
    ) -> query.Page:
        """One page of decisions, newest first; pass ``page.next_before`` as ``before_seq`` for the next page."""
        with self.engine.connect() as conn:
            return query.page(conn, filters or query.Filters(), limit=limit, before_seq=before_seq)

    def count(self, filters: query.Filters | None = None) -> int:
        """How many decisions match."""
        f = filters or query.Filters()
        return self._aggregate(lambda conn: rollups.counts(conn, (), f).get((), 0))

    def counts(self, *by: str, filters: query.Filters | None = None) -> dict[tuple[Any, ...], int]:
        """Decision counts grouped in SQL by any of ``query.GROUPS`` (e.g. ``counts("day", "action")``).

        Served by the per-day rollups (``audit.rollups``) where the filters allow; exact either way.
        """
        f = filters or query.Filters()
        return self._aggregate(lambda conn: rollups.counts(conn, by, f))

    def latency_percentiles(
        self, filters: query.Filters | None = None, *, percentiles: tuple[float, ...] = (50, 90, 99)
    ) -> dict[float, float]:
        """Percentiles of the guard's total latency (ms) over the matching decisions, within ``BUCKET_ERROR``.

        Read from log-spaced histograms (``audit.rollups.BUCKET_ERROR``: 4.4 % at most), so any window is cheap.
        """
        f = filters or query.Filters()
        return self._aggregate(lambda conn: rollups.latency_percentiles(conn, f, percentiles))

    def refresh_rollups(self) -> int:
        """Count the decisions written since the last refresh into the per-day rollups; returns how many.

        Aggregate queries do this themselves once ``rollups.REFRESH_AFTER`` decisions are waiting; call it after a
        bulk load (or from a scheduler) to keep that cost off the first query.
        """
        self._writable()
        total = 0
        while True:
            with self._write_conn() as conn, conn.begin():
                added = rollups.refresh(conn)
            if not added:
                return total
            total += added

    def _aggregate(self, read: Callable[[Connection], _T]) -> _T:
        """Run ``read`` on one consistent snapshot, refreshing the rollups first when they lag far behind."""
        with chain.snapshot(self.engine) as conn:
            if self.read_only or rollups.lag(conn) <= rollups.REFRESH_AFTER:
                return read(conn)
        try:
            self.refresh_rollups()
        except SQLAlchemyError as exc:  # e.g. a read-only database user: the tail is then counted live
            log.warning("cannot refresh the audit rollups (%s); answering from the log", exc)
        with chain.snapshot(self.engine) as conn:
            return read(conn)

    def to_frame(self, filters: query.Filters | None = None, *, scores: bool = False) -> pd.DataFrame:
        """The matching decisions as a pandas DataFrame (one row each; subject and outcome expanded)."""
        with self.engine.connect() as conn:
            return query.to_frame(conn, filters or query.Filters(), scores=scores)

    def stats(self) -> Mapping[str, Any]:
        """Record counts, time span and chain heads, for ``ombud audit stats``."""
        with self.engine.connect() as conn:
            return query.stats(conn)


def open_store(url: str) -> AuditStore:
    """Entry point ``ombud.sinks: sql``: open (creating and migrating if needed) the store at ``url``."""
    started = time.perf_counter()
    store = AuditStore(url)
    log.debug("opened %r in %.1f ms", store, (time.perf_counter() - started) * 1000)
    return store


@dataclass(frozen=True, slots=True)
class _WatchedFile:
    """A SQLite file and the inode it had when the store opened it."""

    path: Path
    inode: int

    @classmethod
    def of(cls, database: str | None) -> _WatchedFile:
        path = Path(database or "").expanduser().resolve()
        return cls(path, path.stat().st_ino)

    def holds_audit_log(self) -> bool:
        """Whether a file at the path holds the audit tables (read-only look, no file created)."""
        if not self.path.is_file():
            return False
        try:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as conn:
                return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_chain'").fetchone() is not None
        except sqlite3.Error:
            return False

    def moved(self) -> bool:
        """Whether the path no longer names the same file (deleted, or replaced)."""
        try:
            return self.path.stat().st_ino != self.inode
        except FileNotFoundError:
            return True
