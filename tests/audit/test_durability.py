"""What survives a ``kill -9`` of a writing process, in each mode, and what a normal exit commits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from audit import AuditStore
from audit.journal import JOURNAL_DIR_ENV
from guards.types import Decision
from tests.audit.conftest import orphan_journal

CHILD = str(Path(__file__).with_name("writer_process.py"))
ACKNOWLEDGED_BEFORE_KILL = 200


def _stored_ids(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = list(conn.scalars(text("SELECT id FROM audit_decision ORDER BY seq")))
    engine.dispose()
    return ids


@pytest.mark.parametrize("mode", ["durable", "journaled"])
def test_kill_9_while_writing(db_url: str, mode: str) -> None:
    child = subprocess.Popen([sys.executable, CHILD, db_url, "-1", mode, "killed"], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acknowledged = [child.stdout.readline().strip() for _ in range(ACKNOWLEDGED_BEFORE_KILL)]
    os.kill(child.pid, signal.SIGKILL)
    acknowledged += child.stdout.read().split()  # lines printed before the kill landed
    child.wait()
    assert child.returncode == -signal.SIGKILL

    with AuditStore(db_url) as store:  # opening replays the journal the killed process left
        report = store.verify()
    assert report.ok, report.first_problem
    stored = _stored_ids(db_url)
    assert len(stored) == len(set(stored))
    assert set(acknowledged) <= set(stored)  # every write that returned survived
    assert len(set(stored) - set(acknowledged)) <= 1  # plus at most the call that was inside write()
    assert not list((Path(os.environ[JOURNAL_DIR_ENV])).rglob("*.journal"))


def test_normal_exit_commits_the_queue(db_url: str) -> None:
    out = subprocess.run(
        [sys.executable, CHILD, db_url, "500", "journaled", "exiting"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert _stored_ids(db_url) == out


def test_a_dead_process_journal_is_replayed_once(db_url: str, make_decision: Callable[..., Decision]) -> None:
    with AuditStore(db_url) as store:
        store.write(make_decision())
    left = [make_decision() for _ in range(5)]
    directory = orphan_journal(db_url, left).parent
    with AuditStore(db_url) as store:
        assert store.count() == 6
        assert all(store.get_decision(d.id) is not None for d in left)
        assert store.verify().ok
    with AuditStore(db_url) as store:
        assert store.count() == 6
    assert not list(directory.glob("*.journal"))


def test_records_queued_while_the_database_is_away_at_exit_are_kept_for_the_next_start(
    tmp_path: Path, make_decision: Callable[..., Decision]
) -> None:
    """Closing gave up on the batches the database could not take and counted them as settled, so the journal
    was emptied and deleted: acknowledged decisions were lost (QA: 100 of 200)."""
    path = tmp_path / "audit.db"
    url = f"sqlite:///{path}"
    store = AuditStore(url)
    for _ in range(3):
        store.write(make_decision())
    store.flush()
    path.rename(tmp_path / "away.db")  # an unmounted volume, a moved file
    for _ in range(4):
        store.write(make_decision())
    store.close(timeout=1)
    (tmp_path / "away.db").rename(path)

    with AuditStore(url) as store:  # the next start replays what the journal kept
        assert store.count() == 7 and store.verify().ok
