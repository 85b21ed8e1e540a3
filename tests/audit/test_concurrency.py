"""Concurrent writers - threads, processes, several stores on one database - still build one valid chain."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from audit import AuditStore, Filters
from guards.types import Decision

MakeDecision = Callable[..., Decision]
CHILD = str(Path(__file__).with_name("writer_process.py"))


def test_threads_sharing_stores_build_one_chain(db_url: str, make_decision: MakeDecision) -> None:
    stores = [AuditStore(db_url, max_batch=5), AuditStore(db_url, max_batch=3), AuditStore(db_url, durable=True)]
    start = threading.Barrier(6)

    def work(store: AuditStore, n: int) -> None:
        start.wait()
        for _ in range(n):
            store.write(make_decision())

    threads = [threading.Thread(target=work, args=(stores[i % 3], 60)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    with AuditStore(db_url) as store:
        report = store.verify()
        assert report.ok, report.first_problem
        assert store.count() == 360
        assert report.chains[0].last_seq == 360


def test_processes_build_one_chain(db_url: str) -> None:
    children = [
        subprocess.Popen([sys.executable, CHILD, db_url, "80", "journaled", f"proc{i}"], stdout=subprocess.PIPE)
        for i in range(3)
    ]
    outputs = [child.communicate(timeout=120)[0].split() for child in children]
    assert all(child.returncode == 0 for child in children)
    with AuditStore(db_url) as store:
        report = store.verify()
        assert report.ok, report.first_problem
        assert store.count() == 240
        for i, out in enumerate(outputs):
            assert len(out) == 80
            assert store.count(Filters(application=f"proc{i}")) == 80
