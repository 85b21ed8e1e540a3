"""The report's chain section: verify every hash chain, in the background while the rest of the report is built.

Walking the chains reads every record once more and hashes it: independent of the report's aggregates, and about as
much CPU. ``start_chain_check`` runs it in a background thread whose long chains are hashed by worker processes
(``audit.verify_worker``), so the hashing uses the other cores while this process builds the report.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from sqlalchemy.pool import StaticPool

from audit.reports.model import ChainStatus

if TYPE_CHECKING:
    from audit.store import AuditStore

WORKERS = max(2, os.cpu_count() or 2)
"""Processes that hash a long chain during a report (at least two, so that the hashing leaves this process)."""


def chain_status(store: AuditStore, *, verify: bool = True, workers: int = 1) -> ChainStatus:
    """The verification result of every hash chain (skipped when ``verify`` is False) and the decision chain head.

    ``workers`` processes hash the long chains (see ``AuditStore.verify``).
    """
    heads = store.stats()["chains"]
    head = heads.get("decision") or {}
    if not verify:
        return ChainStatus(None, head.get("seq"), head.get("hash"), (), "not verified (verification skipped)")
    result = store.verify(workers=workers)
    chains = tuple(
        {
            "chain": c.chain,
            "ok": c.ok,
            "checked": c.checked,
            "first_seq": c.first_seq,
            "last_seq": c.last_seq,
            "problem": c.problem.value if c.problem else None,
            "seq": c.seq,
            "message": c.message,
        }
        for c in result.chains
    )
    bad = result.first_problem
    message = "every chain intact" if bad is None else f"{bad.chain} chain {bad.problem}: {bad.message}"
    return ChainStatus(result.ok, head.get("seq"), head.get("hash"), chains, message)


def start_chain_check(store: AuditStore, *, verify: bool = True) -> Callable[[], ChainStatus]:
    """Start ``chain_status`` in the background; the returned function waits for it and returns it (or raises).

    A store on one shared connection (in-memory SQLite) cannot serve two threads: it is checked when asked instead.
    """
    if not verify or isinstance(store.engine.pool, StaticPool):
        return lambda: chain_status(store, verify=verify)
    future: Future[ChainStatus] = Future()

    def run() -> None:
        try:
            future.set_result(chain_status(store, verify=True, workers=WORKERS))
        except BaseException as exc:  # handed to the caller, which waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name="ombud-report-chain-check", daemon=True).start()
    return future.result
