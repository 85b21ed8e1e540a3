"""What survives a ``kill -9`` of a writing process, in each mode, and what a normal exit commits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from audit import AuditStore

CHILD = str(Path(__file__).with_name("writer_process.py"))
ACKNOWLEDGED_BEFORE_KILL = 200


def _stored_ids(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = list(conn.scalars(text("SELECT id FROM audit_decision ORDER BY seq")))
    engine.dispose()
    return ids


@pytest.mark.parametrize("mode", ["durable", "queued"])
def test_kill_9_while_writing(db_url: str, mode: str) -> None:
    child = subprocess.Popen([sys.executable, CHILD, db_url, "-1", mode, "killed"], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acknowledged = [child.stdout.readline().strip() for _ in range(ACKNOWLEDGED_BEFORE_KILL)]
    os.kill(child.pid, signal.SIGKILL)
    acknowledged += child.stdout.read().split()  # lines printed before the kill landed
    child.wait()
    assert child.returncode == -signal.SIGKILL

    with AuditStore(db_url) as store:
        report = store.verify()
    assert report.ok, report.first_problem
    stored = _stored_ids(db_url)
    # Records are committed in write order: what survived is a prefix of what was written.
    assert [i for i in acknowledged if i in set(stored)] == acknowledged[: len(set(stored) & set(acknowledged))]
    assert len(set(stored) - set(acknowledged)) <= 1  # at most the call that was inside write() when killed
    if mode == "durable":
        assert set(acknowledged) <= set(stored)  # every write that returned was committed


def test_normal_exit_commits_the_queue(db_url: str) -> None:
    out = subprocess.run(
        [sys.executable, CHILD, db_url, "500", "queued", "exiting"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert _stored_ids(db_url) == out
