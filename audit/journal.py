"""A local append-only journal of accepted-but-uncommitted records, so a killed process loses none of them.

``write`` appends the prepared record (no raw text: only ``safe_text`` and ciphertext) to this process's journal
file as it queues it; the file is truncated whenever everything in it is committed, and rolled over every
few megabytes. Each live journal file is held with ``flock``; a file nobody holds belongs to a dead process, and
the next store opened on the same database replays it (skipping ids already stored) and deletes it. Frames that
cannot be read (zeros an OS crash left behind, damaged bytes) are skipped; such a file is kept as
``<name>.journal.damaged``, with a warning naming it and the byte ranges skipped.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import marshal
import os
import struct
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from audit.chain import DECISIONS
from audit.records import Prepared, canonical, check_record

log = logging.getLogger(__name__)

JOURNAL_DIR_ENV = "OMBUD_AUDIT_JOURNAL_DIR"
_SUFFIX = ".journal"
_DAMAGED = ".damaged"
_SEGMENT_BYTES = 8 * 1024 * 1024
_LENGTH = struct.Struct("<I")


def journal_dir(url: str) -> Path | None:
    """Where journals of the database at ``url`` live (None for an in-memory SQLite database).

    ``$OMBUD_AUDIT_JOURNAL_DIR/<url hash>`` when set; else next to a SQLite file (``<file>.ombud-journal``);
    else ``~/.ombud/journal/<url hash>``.
    """
    parsed = make_url(url)
    key = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    sqlite = parsed.get_backend_name() == "sqlite"
    database = parsed.database
    if sqlite and (not database or database == ":memory:" or database.startswith("file::memory:")):
        return None
    if os.environ.get(JOURNAL_DIR_ENV):
        return Path(os.environ[JOURNAL_DIR_ENV]) / key
    if sqlite and database:
        return Path(database).expanduser().resolve().with_name(Path(database).name + ".ombud-journal")
    return Path.home() / ".ombud" / "journal" / key


def encode(record: Prepared) -> bytes:
    """One journal frame: 4-byte length, then the record's canonical JSON ``[*values, index]`` - the very bytes
    its chain hash is computed from, so the record is serialised once."""
    body = DECISIONS.encode(record)
    return _LENGTH.pack(len(body)) + body


_UNREADABLE = (ValueError, TypeError, EOFError, RecursionError)
"""What reading a damaged frame body raises (``AuditValueError`` is a ``TypeError``)."""


def _record(body: bytes) -> Prepared:
    """The record of one frame body; one of ``_UNREADABLE`` when it is not a valid record."""
    if body[:1] == b"[":
        *values, index = json.loads(body)
        record = Prepared(tuple(values), [tuple(row) for row in index], body)
        if canonical(record.values, record.index) != body:  # its hash would not be that of the stored record
            raise ValueError("not a record's canonical form")
    else:
        values, index = marshal.loads(body)  # a frame written by an older version: ``(values, index)`` in marshal form
        record = Prepared(tuple(values), [tuple(row) for row in index])
    check_record(record.values, record.index)
    return record


def _frame(data: bytes, offset: int) -> tuple[Prepared | None, int]:
    """The record of the frame at ``offset`` (None if unreadable) and where the frame ends by its length."""
    (size,) = _LENGTH.unpack_from(data, offset)
    end = offset + _LENGTH.size + size
    if end > len(data):
        return None, end
    try:
        return _record(data[offset + _LENGTH.size : end]), end
    except _UNREADABLE:
        return None, end


def _next_frame(data: bytes, start: int) -> int | None:
    """Where the first readable frame at or after ``start`` begins (a JSON body starts with ``[``), if any."""
    body = data.find(b"[", start + _LENGTH.size)
    while body != -1:
        if _frame(data, body - _LENGTH.size)[0] is not None:
            return body - _LENGTH.size
        body = data.find(b"[", body + 1)
    return None


@dataclass(frozen=True, slots=True)
class Contents:
    """What a journal file holds: the records it could read, and the byte ranges ``(start, end)`` it could not."""

    records: list[Prepared]
    damaged: list[tuple[int, int]]


def decode(data: bytes) -> Contents:
    """The records of a journal file. A torn last frame (the process died mid-write) is ignored; any other
    unreadable bytes (zeros an OS crash left, a damaged frame) are skipped up to the next readable frame and
    reported in ``damaged``."""
    records: list[Prepared] = []
    damaged: list[tuple[int, int]] = []
    offset = 0
    while offset + _LENGTH.size <= len(data):
        record, end = _frame(data, offset)
        if record is not None:
            records.append(record)
            offset = end
            continue
        resume = _next_frame(data, offset + 1)
        if resume is None and end > len(data):
            break
        resume = len(data) if resume is None else resume
        damaged.append((offset, resume))
        offset = resume
    return Contents(records, damaged)


class Journal:
    """This process's journal files for one database. ``lock`` must be held around ``append``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory = directory
        self.lock = threading.Lock()
        self._appended = 0
        self._sealed: list[tuple[Path, int, int]] = []  # path, fd, number of records appended when sealed
        self._path, self._fd = self._open()
        self._size = 0

    def _open(self) -> tuple[Path, int]:
        path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:12]}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return path, fd

    def append(self, record: Prepared) -> None:
        """Append one record (survives a kill of the process once this returns: it is in the OS page cache)."""
        frame = encode(record)
        os.write(self._fd, frame)
        self._appended += 1
        self._size += len(frame)
        if self._size > _SEGMENT_BYTES:
            self._sealed.append((self._path, self._fd, self._appended))
            self._path, self._fd = self._open()
            self._size = 0

    def committed(self, settled: int) -> None:
        """Forget records up to the ``settled``-th appended one (all of them are committed or dropped)."""
        with self.lock:
            while self._sealed and self._sealed[0][2] <= settled:
                path, fd, _ = self._sealed.pop(0)
                path.unlink(missing_ok=True)
                os.close(fd)
            if settled >= self._appended and self._size:
                os.ftruncate(self._fd, 0)
                self._size = 0

    def close(self, *, keep: bool) -> None:
        """Release the files; delete them unless ``keep`` (records left uncommitted are then replayed later)."""
        with self.lock:
            for path, fd, _ in [*self._sealed, (self._path, self._fd, self._appended)]:
                if not keep:
                    path.unlink(missing_ok=True)
                os.close(fd)
            self._sealed = []


def orphans(directory: Path) -> Iterator[tuple[Path, Contents]]:
    """Journal files of dead processes with their contents; each is locked while the caller replays it."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process is alive
            os.close(fd)
            continue
        try:
            with os.fdopen(os.dup(fd), "rb") as f:
                contents = decode(f.read())
            yield path, contents
        finally:
            os.close(fd)


def retire(path: Path, contents: Contents) -> None:
    """Delete a replayed journal file, or keep a damaged one aside as ``<name>.damaged`` (never replayed again)."""
    if not contents.damaged:
        path.unlink(missing_ok=True)
        return
    kept = path.with_name(path.name + _DAMAGED)
    path.rename(kept)
    spans = ", ".join(f"{start}..{end}" for start, end in contents.damaged)
    log.warning(
        "skipped unreadable bytes %s of the audit journal %s (%d records in it were readable and replayed); "
        "the file is kept as %s",
        spans,
        path,
        len(contents.records),
        kept.name,
    )
