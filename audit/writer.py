"""A background thread that commits queued items in batches, retrying with backoff while the database is away."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from audit.errors import AuditDatabaseGone
from guards.errors import SinkError

log = logging.getLogger(__name__)

T = TypeVar("T")
QUEUE_FULL = "the audit queue is full ({size} records): the database has been unreachable for a while"
CLOSED = "the audit store is closed"
_MAX_BACKOFF_S = 5.0


def retryable(exc: BaseException) -> bool:
    """True for errors that may go away by themselves: lost connection, server restart, locked database."""
    if isinstance(exc, OperationalError | InterfaceError | AuditDatabaseGone):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@dataclass(slots=True)
class _Ticket:
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class BatchWriter(Generic[T]):
    """Queue items and commit them with ``commit(batch)`` on one daemon thread, in arrival order.

    ``submit`` never blocks unless asked to wait for the commit; it raises ``SinkError`` when the bounded queue is
    full. A failing commit that looks transient is retried (backoff 50 ms doubling to 5 s) with the batch kept.
    With ``linger``, the thread waits that long after the first item of a batch for more to arrive (fewer, larger
    transactions when calls are sparse); ``flush``, ``close`` and waiting submits cut the wait short.
    """

    def __init__(
        self,
        commit: Callable[[list[T]], None],
        *,
        max_queue: int,
        max_batch: int,
        name: str,
        after_commit: Callable[[int], None] | None = None,
        linger: float = 0.0,
    ) -> None:
        self._commit = commit
        self._linger = linger
        self._hurry = threading.Event()
        self._after_commit = after_commit
        self._max_queue, self._max_batch = max_queue, max_batch
        # One plain lock guards the queue and the counters: a submit is one acquire and a deque append (a
        # queue.Queue would add two more locks per item); the thread takes a whole batch under one acquire.
        lock = threading.Lock()
        self._items: deque[tuple[T, _Ticket | None]] = deque()
        self._arrived = threading.Condition(lock)  # the thread waits here while the queue is empty
        self._cond = threading.Condition(lock)  # flushes wait here for records to settle
        self._idle = False
        self._accepted = 0
        self._settled = 0
        self._closed = False
        self._stopping = False
        self._wake = threading.Event()
        self.failed = 0
        """Items dropped because their commit failed permanently (logged)."""
        self.last_error: BaseException | None = None
        """The last commit error, kept for diagnostics (``None`` once a commit succeeds again)."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Items accepted but not yet committed or dropped."""
        with self._cond:
            return self._accepted - self._settled

    @property
    def settled(self) -> int:
        """Items committed or dropped so far."""
        with self._cond:
            return self._settled

    def submit(self, item: T, *, wait: bool = False, timeout: float | None = None) -> None:
        """Queue ``item``; with ``wait``, return only once it is committed (``SinkError`` on failure or timeout)."""
        ticket = _Ticket() if wait else None
        with self._cond:
            if self._closed:
                raise SinkError(CLOSED)
            if len(self._items) >= self._max_queue:
                raise SinkError(QUEUE_FULL.format(size=self._max_queue))
            self._items.append((item, ticket))
            self._accepted += 1
            if self._idle:
                self._arrived.notify()
        if ticket is None:
            return
        self._hurry.set()
        if not ticket.done.wait(timeout):
            raise SinkError(f"the audit record was not committed within {timeout} s; it stays queued") from (
                self.last_error
            )
        if ticket.error is not None:
            raise SinkError(f"the audit record could not be stored: {ticket.error}") from ticket.error

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything accepted so far is committed (or dropped); ``SinkError`` on timeout."""
        self._hurry.set()
        with self._cond:
            target = self._accepted
            if not self._cond.wait_for(lambda: self._settled >= target, timeout):
                raise SinkError(
                    f"audit flush timed out with {target - self._settled} records still queued"
                ) from self.last_error

    def close(self, timeout: float | None = None) -> int:
        """Flush, stop the thread, and return how many records were still queued (lost) when it gave up."""
        with self._cond:
            if self._closed:
                return 0
            self._closed = True
        try:
            self.flush(timeout)
        except SinkError as exc:
            log.error("%s", exc)
        with self._cond:
            self._stopping = True  # the thread stops once the queue is empty
            self._arrived.notify()
        self._wake.set()
        self._hurry.set()
        self._thread.join(timeout)
        return self.pending

    def _run(self) -> None:
        items = self._items
        while True:
            with self._cond:
                while not items and not self._stopping:
                    self._idle = True
                    self._arrived.wait()
                    self._idle = False
                if not items:
                    return
            if self._linger and len(items) < self._max_batch:
                self._hurry.wait(self._linger)
            with self._cond:
                batch = [items.popleft() for _ in range(min(len(items), self._max_batch))]
                if not items:
                    self._hurry.clear()  # a flush that arrives later sets it again (at worst it waits one linger)
            self._commit_with_retry(batch)

    def _commit_with_retry(self, batch: list[tuple[T, _Ticket | None]]) -> None:
        """Commit ``batch``, retrying transient errors; a batch still failing when the writer is closed stays
        unsettled (``close`` reports it as lost, and a journal keeps it for the next start)."""
        delay = 0.05
        error: BaseException | None = None
        while True:
            try:
                self._commit([item for item, _ in batch])
                self.last_error = None
                break
            except Exception as exc:
                self.last_error = exc
                if retryable(exc) and self._closed and self._wake.is_set():
                    log.error("closing with %d audit records uncommitted: %s", len(batch), exc)
                    self._release(batch, exc)
                    return
                if not retryable(exc):
                    log.exception("dropping %d audit records after a commit error", len(batch))
                    self.failed += len(batch)
                    error = exc
                    break
                log.warning("audit database unavailable (%s); retrying in %.2f s", exc, delay)
                self._wake.wait(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)
        self._release(batch, error)
        with self._cond:
            self._settled += len(batch)
            settled = self._settled
            self._cond.notify_all()
        if self._after_commit is not None:
            self._after_commit(settled)

    @staticmethod
    def _release(batch: list[tuple[T, _Ticket | None]], error: BaseException | None) -> None:
        """Wake the callers waiting for ``batch``'s commit, with ``error`` if it failed."""
        for _, ticket in batch:
            if ticket is not None:
                ticket.error = error
                ticket.done.set()
