"""Turns a database URL (argument or ``OMBUD_DATABASE_URL``) into a configured SQLAlchemy engine."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool, StaticPool

from audit.errors import AuditConfigError

log = logging.getLogger(__name__)

DATABASE_URL_ENV = "OMBUD_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///ombud.db"
IMMEDIATE = "ombud_immediate"
"""Execution option: on SQLite, start the transaction with ``BEGIN IMMEDIATE`` (takes the write lock at once)."""

_URL_HINT = "use sqlite:///path/to/ombud.db or postgresql+psycopg://user:password@host:5432/dbname"


def database_url(url: str | None = None) -> str:
    """The URL to use: ``url``, else ``$OMBUD_DATABASE_URL``, else ``sqlite:///ombud.db``."""
    return url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


_PASSWORD = re.compile(r"(://[^:/@]*:).*@")  # to the last "@": a password may hold one


def safe_url(url: str) -> str:
    """``url`` with any password masked, for messages and logs (also when the URL cannot be parsed)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD.sub(r"\1***@", url)


def make_engine(url: str, *, durable: bool = False, create: bool = True, read_only: bool = False) -> Engine:
    """An engine for ``url`` (SQLite file in WAL mode, or PostgreSQL through psycopg 3).

    ``durable`` makes SQLite fsync every commit (``synchronous=FULL``) so a commit also survives power loss.
    Without ``create``, a SQLite file that does not exist raises ``AuditConfigError`` (it is not created).
    ``read_only`` opens an existing database for reading only: a SQLite file as immutable (nothing is written
    next to it, so write-protected evidence copies open), PostgreSQL in read-only transactions.
    """
    try:
        parsed = make_url(url)
        _ = parsed.port  # a port that is not a number fails here, not at the first connection
    except (ArgumentError, ValueError) as exc:
        raise AuditConfigError(f"invalid audit database URL {safe_url(url)!r}: {_URL_HINT}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite" and read_only:
        return _sqlite_read_only_engine(parsed.database)
    if backend == "sqlite":
        return _sqlite_engine(parsed.database, url, durable=durable, create=create)
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
        if read_only:  # added to the URL's own options (a search_path naming the log's schema stays in force)
            given = parsed.query.get("options", "")
            given = " ".join(given) if isinstance(given, tuple) else given
            parsed = parsed.update_query_dict({"options": f"{given} -c default_transaction_read_only=on".strip()})
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise AuditConfigError(f"unsupported audit database {safe_url(url)!r}: {_URL_HINT}")


def _sqlite_engine(database: str | None, url: str, *, durable: bool, create: bool) -> Engine:
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 60}}
    memory = not database or database == ":memory:" or database.startswith("file::memory:")
    if not database or memory:
        kwargs["poolclass"] = StaticPool
    elif create:
        folder = Path(database).expanduser().resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditConfigError(f"cannot create the audit database folder {folder}: {exc.strerror}") from exc
    elif not Path(database).expanduser().is_file():
        raise AuditConfigError(f"no audit database at {database}")
    engine = create_engine(url, **kwargs)
    _explicit_transactions(engine)
    synchronous = "FULL" if durable else "NORMAL"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        if not memory:
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA wal_autocheckpoint = 16384")  # checkpoint (and fsync) every 64 MB, not 4 MB
        cur.execute(f"PRAGMA synchronous = {synchronous}")
        cur.close()

    return engine


def _explicit_transactions(engine: Engine) -> None:
    """Put the sqlite3 driver in autocommit mode and let SQLAlchemy's ``begin`` emit ``BEGIN`` itself
    (``BEGIN IMMEDIATE``, taking the write lock at once, with the ``IMMEDIATE`` execution option)."""

    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_read_only_engine(database: str | None) -> Engine:
    """An engine reading the SQLite file ``database`` as immutable: no locks, no ``-wal``/``-shm`` files.

    An immutable open ignores a write-ahead log, so a file whose ``-wal`` still holds commits is refused rather
    than read without them.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        raise AuditConfigError(f"read-only mode needs a SQLite file given by its path, not {database or 'memory'!r}")
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise AuditConfigError(f"no audit database at {database}")
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        raise AuditConfigError(
            f"{wal} may hold commits not yet in {path.name}, which a read-only open would miss: verify the copy in a "
            "writable folder, or checkpoint the original (sqlite3 FILE 'PRAGMA wal_checkpoint(TRUNCATE)') and copy "
            "it again"
        )
    uri = f"file:{quote(str(path))}?mode=ro&immutable=1"
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        poolclass=QueuePool,  # the "sqlite://" placeholder URL would otherwise get an in-memory database's pool
    )
    _explicit_transactions(engine)
    return engine
