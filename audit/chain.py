"""The SHA-256 hash chains: canonical form of a record, appending under a lock, and verification.

Each record's hash is ``sha256(canonical JSON [format, chain, seq, prev_hash, *fields])``; ``prev_hash`` is the
hash of record ``seq - 1`` (or of the purge checkpoint the chain starts at, or 64 zeros). The chain head
(``audit_chain``: last seq and hash) is updated in the same transaction, under the write lock, so concurrent
writers - threads, processes, servers - always extend one chain.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, Table, func, or_, select
from sqlalchemy.exc import DBAPIError

from audit import keys
from audit.records import DECISION_COLUMNS, FEEDBACK_COLUMNS, Prepared, canonical, dumps, encode
from audit.schema import CHAIN_TABLE, CHECKPOINT_TABLE, DECISION_TABLE, FEEDBACK_TABLE, FINDING_TABLE, POLICY_TABLE

FORMAT = 1
GENESIS = "0" * 64
_STREAM = 20_000
SQLITE_ROWS = 200
"""Rows per ``INSERT`` statement on SQLite (fewer where the SQLite library allows fewer parameters)."""


@dataclass(frozen=True, slots=True)
class ChainSpec:
    """A hash chain: its name, table, and the hashed columns in canonical order (``seq``, ``prev_hash`` first)."""

    name: str
    table: Table
    fields: tuple[str, ...]
    indexed: bool = False
    """Whether the record's ``audit_finding`` rows are part of its canonical form."""

    def digest(self, values: Sequence[Any], index: Sequence[Sequence[Any]] = ()) -> str:
        """The hash of a record given its column values in ``fields`` order (and its findings index rows)."""
        form = [FORMAT, self.name, *values, index] if self.indexed else [FORMAT, self.name, *values]
        return hashlib.sha256(encode(form)).hexdigest()

    def encode(self, record: Prepared) -> bytes:
        """The part of ``record``'s canonical form after ``seq`` and ``prev_hash``, as JSON array bytes."""
        if self.indexed:
            return record.body if record.body is not None else canonical(record.values, record.index)
        return canonical(record.values)

    def digest_encoded(self, seq: int, prev_hash: str, body: bytes) -> str:
        """The hash of record ``seq`` linked to ``prev_hash``, given the rest of its canonical form (``encode``).

        The canonical form is ``dumps([FORMAT, name, seq, prev_hash, *rest])``; as a JSON array is its items
        joined by commas, that is the head ``[FORMAT,name,seq,prev_hash`` then ``,`` then ``body`` without its ``[``.
        """
        if type(seq) is int and prev_hash.isascii() and prev_hash.isalnum():  # nothing to escape: spelt directly
            head = f'[{FORMAT},"{self.name}",{seq},"{prev_hash}",'
        else:  # a tampered chain head may hold anything
            head = dumps([FORMAT, self.name, seq, prev_hash])[:-1] + ","
        sha = hashlib.sha256(head.encode())
        sha.update(memoryview(body)[1:])
        return sha.hexdigest()


DECISIONS = ChainSpec("decision", DECISION_TABLE, ("seq", "prev_hash", *DECISION_COLUMNS), indexed=True)
FEEDBACK = ChainSpec("feedback", FEEDBACK_TABLE, ("seq", "prev_hash", *FEEDBACK_COLUMNS))
CHAINS = (DECISIONS, FEEDBACK)
_SPECS = {spec.name: spec for spec in CHAINS}
_HEAD = CHAIN_TABLE
_FINDINGS = FINDING_TABLE
_INDEX_COLUMNS = ("decision_seq", "ord", "scanner", "label", "score", "span_start", "span_end")


def append(conn: Connection, spec: ChainSpec, records: list[Prepared]) -> int:
    """Number, link, hash and insert ``records`` at the end of the chain; returns the new head seq.

    Must run inside the caller's write transaction; the head row is locked (``FOR UPDATE``; on SQLite the
    transaction already holds the database write lock from ``BEGIN IMMEDIATE``).
    """
    # Plain driver SQL: these run once per batch, often for a batch of one, where statement compilation would
    # cost more than the insert.
    mark = marker(conn)
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    seq, prev = conn.exec_driver_sql(f"SELECT seq, hash FROM audit_chain WHERE name = {mark}{lock}", (spec.name,)).one()
    rows: list[tuple[Any, ...]] = []
    index: list[tuple[Any, ...]] = []
    digest, encode = spec.digest_encoded, spec.encode
    for record in records:
        seq += 1
        link, prev = prev, digest(seq, prev, encode(record))
        rows.append((seq, link, *record.values, prev))
        index += [(seq, *i) for i in record.index]
    bulk_insert(conn, spec.table, (*spec.fields, "hash"), rows)
    if index:
        bulk_insert(conn, _FINDINGS, _INDEX_COLUMNS, index)
    conn.exec_driver_sql(
        f"UPDATE audit_chain SET seq = {mark}, hash = {mark} WHERE name = {mark}", (seq, prev, spec.name)
    )
    return seq


def marker(conn: Connection) -> str:
    """The driver's positional parameter marker (``?`` for sqlite3, ``%s`` for psycopg)."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert many rows fast: ``COPY`` on PostgreSQL, multi-row ``INSERT`` statements on SQLite.

    The sqlite3 driver releases and retakes the GIL around every statement step: an ``executemany`` does it per
    row, and each retake waits for a busy calling thread to yield, so a statement of ``SQLITE_ROWS`` rows is used.
    """
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        statement = f"COPY {table.name} ({names}) FROM STDIN"
        dbapi_error = conn.dialect.loaded_dbapi.Error
        try:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi_error as exc:  # raised by the driver directly: give it SQLAlchemy's exception class
            raise DBAPIError.instance(statement, None, exc, dbapi_error, dialect=conn.dialect) from exc
        return
    marks = "(" + ", ".join([marker(conn)] * len(columns)) + ")"
    per = max(1, min(SQLITE_ROWS, _sqlite_variables(conn) // len(columns)))
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        statement = f"INSERT INTO {table.name} ({names}) VALUES {', '.join([marks] * len(chunk))}"
        conn.exec_driver_sql(statement, tuple(itertools.chain.from_iterable(chunk)))


def _sqlite_variables(conn: Connection) -> int:
    """How many ``?`` parameters one statement may have (999 before SQLite 3.32, 32766 by default since)."""
    driver = conn.connection.driver_connection
    return driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if driver is not None else 999


class Problem(enum.StrEnum):
    """What verification found wrong with the first bad record."""

    EDITED = "edited"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    CHECKPOINT = "checkpoint"


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of verifying one chain. ``seq``/``record_id`` name the first bad record when not ``ok``."""

    chain: str
    checked: int
    first_seq: int | None
    last_seq: int | None
    start_checkpoint: int | None
    problem: Problem | None = None
    seq: int | None = None
    record_id: str | None = None
    message: str = "ok"

    @property
    def ok(self) -> bool:
        """True when the whole chain is intact."""
        return self.problem is None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of verifying every chain of a store."""

    chains: tuple[ChainReport, ...]

    @property
    def ok(self) -> bool:
        """True when every chain is intact."""
        return all(c.ok for c in self.chains)

    @property
    def first_problem(self) -> ChainReport | None:
        """The first chain report with a problem, if any."""
        return next((c for c in self.chains if not c.ok), None)


def checkpoint_message(chain: str, seq: int, hash_: str, created_us: int, purged: int) -> bytes:
    """The exact bytes a purge checkpoint signs."""
    return dumps(["ombud-audit-checkpoint", FORMAT, chain, seq, hash_, created_us, purged]).encode()


PARALLEL_MIN = 200_000
"""Chains at least this long are checked by several processes (when the caller allows more than one worker)."""


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection holding one consistent read snapshot (``REPEATABLE READ`` on PostgreSQL)."""
    opts: dict[str, Any] = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**opts) as conn, conn.begin():
        yield conn


def verify(
    conn: Connection,
    public_key: Ed25519PublicKey | None,
    *,
    url: str | None = None,
    workers: int = 1,
    read_only: bool = False,
) -> VerifyReport:
    """Verify every chain on ``conn`` (which should hold one consistent snapshot).

    With ``url`` and ``workers > 1``, long chains are hashed by that many processes over ranges of ``seq`` (each
    opening ``url`` read-only if ``read_only``); if any range fails, the chain is walked again in this snapshot
    to name the first bad record exactly.
    """
    chains = tuple(
        _Verifier(conn, spec, public_key, url=url, workers=workers, read_only=read_only).run() for spec in CHAINS
    )
    return VerifyReport((*chains, verify_policies(conn)))


def verify_prefix(conn: Connection, spec: ChainSpec, public_key: Ed25519PublicKey, last: int) -> ChainReport:
    """Verify ``spec``'s chain from its start (or signed checkpoint) up to record ``last`` only: what a purge is
    about to delete must be intact, or its signed checkpoint would vouch for tampered records."""
    return _Verifier(conn, spec, public_key).run(upto=last)


def verify_policies(conn: Connection) -> ChainReport:
    """The stored policy documents against their SHA-256, by which the chained decisions name them (the policy
    table is not itself a chain: this names the first policy version whose document was changed), then the policy
    rows (with or without a document) against the decisions naming them (``_policy_of_decisions``)."""
    rows = conn.execute(select(POLICY_TABLE).order_by(POLICY_TABLE.c.first_seen_us, POLICY_TABLE.c.sha256))
    checked = missing = 0
    for row in rows:
        if row.document is None:  # named by decisions, never registered (or erased): reported below
            missing += 1
            continue
        checked += 1
        if hashlib.sha256(row.document.encode()).hexdigest() != row.sha256:
            message = f"the stored document of policy {row.name} {row.version} does not hash to its sha256 {row.sha256}"
            return ChainReport("policy", checked, None, None, None, Problem.EDITED, message=message)
    found = _policy_of_decisions(conn)
    if found is not None:
        return ChainReport("policy", checked, None, None, None, found[0], message=found[1])
    if missing:
        message = (
            f"ok; {missing} policy version(s) named by decisions have no stored document (never registered with "
            "register_policy, as the guard does, or the document was erased)"
        )
        return ChainReport("policy", checked, None, None, None, message=message)
    return ChainReport("policy", checked, None, None, None)


def _policy_of_decisions(conn: Connection) -> tuple[Problem, str] | None:
    """The first decision whose policy has no stored row (deleted), or a row whose name or version differs from
    what the decision recorded (edited): one query, a join of the decisions to the small policy table."""
    d, p = DECISION_TABLE.c, POLICY_TABLE.c
    row = conn.execute(
        select(d.seq, d.policy_name, d.policy_version, d.policy_sha256, p.name, p.version)
        .select_from(DECISION_TABLE.outerjoin(POLICY_TABLE, p.sha256 == d.policy_sha256))
        .where(or_(p.sha256.is_(None), p.name != d.policy_name, p.version != d.policy_version))
        .order_by(d.seq)
        .limit(1)
    ).first()
    if row is None:
        return None
    seq, name, version, sha, stored_name, stored_version = row
    if stored_name is None:
        message = f"the row of policy {name} {version} ({sha}), named by decision {seq}, was deleted"
        return Problem.DELETED, message
    message = (
        f"the policy {sha} is stored as {stored_name} {stored_version}, but decision {seq} names it {name} {version}"
    )
    return Problem.EDITED, message


def check_range(
    url: str, chain: str, first: int, last: int, prev: str, *, read_only: bool = False
) -> tuple[bool, str | None]:
    """Are records ``first..last`` of ``chain`` intact and linked from ``prev``? Returns (ok, hash of ``last``).

    Runs in a worker process (``audit.verify_worker``) with its own connection and snapshot.
    """
    from audit.config import make_engine

    engine = make_engine(url, create=False, read_only=read_only)
    try:
        with snapshot(engine) as conn:
            walker = _Verifier(conn, _SPECS[chain], None, bounds=(first, last))
            failed = walker._walk(first, prev) is not None
            ok = not failed and walker.checked == last - first + 1 and walker._orphan is None
            return ok, walker._last_hash
    finally:
        engine.dispose()


class _Verifier:
    def __init__(
        self,
        conn: Connection,
        spec: ChainSpec,
        public_key: Ed25519PublicKey | None,
        *,
        url: str | None = None,
        workers: int = 1,
        bounds: tuple[int, int] | None = None,
        read_only: bool = False,
    ) -> None:
        self.conn, self.spec, self.public_key = conn, spec, public_key
        self.url, self.workers, self.bounds, self.read_only = url, workers, bounds, read_only
        self.table = spec.table
        self.checked = 0
        self.first_seq: int | None = None
        self.start: int | None = None

    def report(self, problem: Problem | None = None, seq: int | None = None, message: str = "ok") -> ChainReport:
        record_id = None
        if seq is not None:
            record_id = self.conn.execute(select(self.table.c.id).where(self.table.c.seq == seq)).scalar()
        last = self.first_seq + self.checked - 1 if self.first_seq is not None else None
        return ChainReport(
            self.spec.name, self.checked, self.first_seq, last, self.start, problem, seq, record_id, message
        )

    def run(self, upto: int | None = None) -> ChainReport:
        """Walk the chain from its checkpoint (or start) to its head, or only up to record ``upto``."""
        name = self.spec.name
        head = self.conn.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.name == name)).first()
        if head is None:
            return self.report(Problem.DELETED, None, f"the head of the {name} chain (audit_chain) was deleted")
        head_seq, head_hash = head
        if type(head_seq) is not int or not isinstance(head_hash, str):
            return self.report(Problem.EDITED, None, f"the head of the {name} chain (audit_chain) is malformed")
        cp = CHECKPOINT_TABLE
        checkpoint = self.conn.execute(
            select(cp.c.seq, cp.c.hash, cp.c.created_us, cp.c.purged, cp.c.signature)
            .where(cp.c.chain == name)
            .order_by(cp.c.seq.desc())
            .limit(1)
        ).first()
        expected, prev = 1, GENESIS
        if checkpoint is not None:
            self.start = checkpoint.seq
            if self.public_key is None:
                return self.report(Problem.CHECKPOINT, None, keys.MISSING_VERIFY_KEY)
            message = checkpoint_message(name, *checkpoint[:4])
            if not keys.signature_valid(self.public_key, message, checkpoint.signature):
                return self.report(
                    Problem.CHECKPOINT,
                    None,
                    f"the checkpoint at seq {checkpoint.seq} has an invalid signature",
                )
            expected, prev = checkpoint.seq + 1, checkpoint.hash
        if upto is not None:
            return self._prefix(expected, prev, upto)

        length = head_seq - expected + 1
        if (
            self.url
            and self.workers > 1
            and length >= PARALLEL_MIN
            and self._parallel(expected, prev, head_seq, head_hash)
        ):
            self.first_seq, self.checked = expected, length
            return self.report()
        failure = self._walk(expected, prev)
        if failure is not None:
            return failure
        expected += self.checked
        prev = self._last_hash or prev
        last = expected - 1
        if head_seq > last:
            return self.report(Problem.DELETED, last + 1, f"records {last + 1}..{head_seq} were deleted (tail)")
        if head_seq < last:
            return self.report(
                Problem.INSERTED, head_seq + 1, f"record {head_seq + 1} was appended outside the chain head"
            )
        if head_hash != prev:
            return self.report(Problem.EDITED, last, f"record {last} does not match the chain head")
        if self._orphan is not None:
            return self.report(Problem.INSERTED, None, f"findings exist for a missing record {self._orphan}")
        return self.report()

    _last_hash: str | None = None
    _orphan: int | None = None

    def _prefix(self, first: int, prev: str, last: int) -> ChainReport:
        """Records ``first..last`` all present, intact and linked from ``prev``, with no stray findings among them."""
        self.bounds = (first, last)
        failure = self._walk(first, prev)
        if failure is not None:
            return failure
        if self.checked != last - first + 1:
            missing = first + self.checked
            return self.report(Problem.DELETED, missing, f"records {missing}..{last} are missing")
        if self._orphan is not None:
            return self.report(Problem.INSERTED, None, f"findings exist for a missing record {self._orphan}")
        return self.report()

    def _parallel(self, first: int, prev: str, last: int, head_hash: str) -> bool:
        """Fast path: hash ranges of the chain in worker processes; False means "walk it here to find out"."""
        t = self.table
        span = self.conn.execute(select(func.min(t.c.seq), func.max(t.c.seq), func.count()).select_from(t)).one()
        if tuple(span) != (first, last, last - first + 1):
            return False
        if self.spec.indexed:
            f = _FINDINGS.c
            stray = select(func.count()).where(or_(f.decision_seq < first, f.decision_seq > last))
            if self.conn.scalar(stray):
                return False
        step = -(-(last - first + 1) // self.workers)
        firsts = list(range(first, last + 1, step))
        lasts = [min(a + step - 1, last) for a in firsts]
        prevs = [prev] + [self.conn.scalar(select(t.c.hash).where(t.c.seq == a - 1)) or "" for a in firsts[1:]]
        workers: list[subprocess.Popen[str]] = []
        results = []
        try:
            for a, b, p in zip(firsts, lasts, prevs, strict=True):
                # -P: not the current folder first on sys.path, where an evidence folder could plant its own audit/
                command = [sys.executable, "-P", "-m", "audit.verify_worker"]
                worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                workers.append(worker)
                job = dict(url=self.url, read_only=self.read_only, chain=self.spec.name, first=a, last=b, prev=p)
                assert worker.stdin is not None
                worker.stdin.write(json.dumps(job))
                worker.stdin.close()
            for worker in workers:
                assert worker.stdout is not None
                out = worker.stdout.read()
                worker.stdout.close()
                worker.wait()
                answer = json.loads(out) if worker.returncode == 0 and out else {"ok": False, "last_hash": None}
                results.append((answer["ok"], answer["last_hash"]))
        except BaseException:  # interrupted: no worker may outlive the verification it belongs to
            for worker in workers:
                worker.kill()
            raise
        return all(ok for ok, _ in results) and results[-1][1] == head_hash

    def _stream(self, columns: Sequence[str], table: Table, key: str, order: str) -> Iterator[tuple[Any, ...]]:
        """Plain tuples straight from the driver (the verify loop touches every row of the log), in the
        caller's snapshot: a server-side cursor on PostgreSQL, the connection's own cursor on SQLite."""
        where = f" WHERE {key} BETWEEN {int(self.bounds[0])} AND {int(self.bounds[1])}" if self.bounds else ""
        sql = f"SELECT {', '.join(columns)} FROM {table.name}{where} ORDER BY {order}"
        driver = self.conn.connection.driver_connection
        assert driver is not None
        if self.conn.dialect.name == "postgresql":
            cursor = driver.cursor(name=f"ombud_verify_{table.name}")
            cursor.itersize = _STREAM
            cursor.execute(sql)
        else:
            cursor = driver.cursor()
            cursor.arraysize = _STREAM
            cursor.execute(sql)
        try:
            while rows := cursor.fetchmany(_STREAM):
                yield from rows
        finally:
            cursor.close()

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        return self._stream((*self.spec.fields, "hash"), self.table, "seq", "seq")

    def _findings(self) -> Iterator[tuple[Any, ...]]:
        return self._stream(_INDEX_COLUMNS, _FINDINGS, "decision_seq", "decision_seq, ord")

    def _walk(self, expected: int, prev: str) -> ChainReport | None:
        digest = self.spec.digest
        findings = self._findings() if self.spec.indexed else iter(())
        pending = next(findings, None)
        bad: tuple[str, tuple[Any, ...]] | None = None
        try:
            for values in self._rows():
                seq, prev_hash, stored = values[0], values[1], values[-1]
                if self.first_seq is None:
                    self.first_seq = seq
                if seq != expected:
                    bad = ("gap", values)
                    break
                if pending is not None and pending[0] < seq:
                    return self.report(Problem.INSERTED, None, f"findings exist for a missing record {pending[0]}")
                index = []
                while pending is not None and pending[0] == seq:
                    index.append(pending[1:])
                    pending = next(findings, None)
                if digest(values[:-1], index) != stored:
                    bad = ("hash", values)
                    break
                if prev_hash != prev:
                    bad = ("link", values)
                    break
                prev = stored
                expected += 1
                self.checked += 1
        except TypeError:  # ``pending[0] < seq`` for a findings row whose decision_seq is text (SQLite stores any type)
            assert pending is not None
            message = f"findings exist for a record with the non-integer seq {pending[0]!r}"
            return self.report(Problem.INSERTED, None, message)
        self._last_hash = prev if self.checked else None
        if bad is None:
            self._orphan = pending[0] if pending is not None else None
            return None
        kind, values = bad
        return self._classify(kind, values, expected, prev)

    def _seq_of_hash(self, hash_: str) -> int | None:
        return self.conn.execute(select(self.table.c.seq).where(self.table.c.hash == hash_).limit(1)).scalar()

    def _classify(self, kind: str, values: Sequence[Any], expected: int, prev: str) -> ChainReport:
        seq, prev_hash = values[0], values[1]
        if kind == "gap":
            if seq > expected:
                span = f"record {expected}" if seq == expected + 1 else f"records {expected}..{seq - 1}"
                return self.report(Problem.DELETED, expected, f"{span} deleted (the chain jumps to {seq})")
            start = "the checkpoint the chain starts at" if self.start is not None else "the chain's first record"
            return self.report(Problem.INSERTED, seq, f"record {seq} lies before {start}")
        if kind == "index":
            return self.report(
                Problem.EDITED, seq, f"record {seq} was edited: its findings index differs from the record"
            )
        predecessor = self._seq_of_hash(prev_hash)
        if predecessor is not None and predecessor != seq - 1:
            return self.report(
                Problem.REORDERED,
                seq,
                f"record {seq} is out of order: it was chained after record {predecessor}",
            )
        if kind == "hash":
            return self.report(Problem.EDITED, seq, f"record {seq} was edited: its content does not match its hash")
        nxt = self.conn.execute(
            select(self.table.c.prev_hash).where(self.table.c.seq > seq).order_by(self.table.c.seq).limit(1)
        ).scalar()
        if nxt == prev:
            return self.report(Problem.INSERTED, seq, f"record {seq} was inserted: its successor skips it")
        return self.report(
            Problem.INSERTED,
            seq - 1,
            f"record {seq - 1} was inserted or replaced: record {seq} was chained to another",
        )
