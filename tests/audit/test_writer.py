"""The batching writer: retries while the database is away, bounded queue, durable waits, permanent errors."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from audit.writer import BatchWriter
from guards.errors import SinkError


class FlakyDatabase:
    """Commits batches, failing the first ``outages`` attempts as an unreachable server would."""

    def __init__(self, outages: int = 0, error: Exception | None = None) -> None:
        self.outages = outages
        self.error = error or OperationalError("INSERT", None, ConnectionError("server closed the connection"))
        self.committed: list[int] = []
        self.attempts = 0
        self.gate = threading.Event()
        self.gate.set()

    def commit(self, batch: list[int]) -> None:
        self.gate.wait()
        self.attempts += 1
        if self.attempts <= self.outages:
            raise self.error
        self.committed.extend(batch)


def test_a_database_outage_is_retried_without_losing_records() -> None:
    db = FlakyDatabase(outages=3)
    writer = BatchWriter(db.commit, max_queue=100, max_batch=10, name="test")
    for i in range(25):
        writer.submit(i)
    writer.flush(timeout=60)
    assert db.committed == list(range(25))
    assert db.attempts > 3 and writer.failed == 0 and writer.last_error is None
    writer.close()


def test_a_full_queue_refuses_with_sink_error() -> None:
    db = FlakyDatabase()
    db.gate.clear()  # the database hangs
    writer = BatchWriter(db.commit, max_queue=3, max_batch=1, name="test")
    accepted = 0
    with pytest.raises(SinkError, match="queue is full"):
        for i in range(10):
            writer.submit(i)
            accepted += 1
    assert 3 <= accepted <= 4  # the queue, plus the batch the writer thread holds
    db.gate.set()
    writer.flush(timeout=60)
    assert db.committed == list(range(accepted))
    writer.close()


def test_durable_submit_waits_for_the_commit() -> None:
    db = FlakyDatabase(outages=1)
    writer = BatchWriter(db.commit, max_queue=10, max_batch=10, name="test")
    writer.submit(7, wait=True, timeout=60)
    assert db.committed == [7]
    writer.close()


def test_permanent_errors_drop_the_batch_and_fail_durable_writes() -> None:
    db = FlakyDatabase(outages=1, error=IntegrityError("INSERT", None, ValueError("bad row")))
    writer = BatchWriter(db.commit, max_queue=10, max_batch=10, name="test")
    with pytest.raises(SinkError, match="could not be stored"):
        writer.submit(1, wait=True, timeout=60)
    writer.submit(2, wait=True, timeout=60)
    assert db.committed == [2] and writer.failed == 1
    writer.close()


def test_closed_writer_refuses() -> None:
    writer = BatchWriter(FlakyDatabase().commit, max_queue=10, max_batch=10, name="test")
    assert writer.close() == 0
    with pytest.raises(SinkError, match="closed"):
        writer.submit(1)
