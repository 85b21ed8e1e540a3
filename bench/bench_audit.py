"""Audit store benchmarks: batched write throughput vs a plain ``executemany`` of the same rows (SQLite and
PostgreSQL), ``verify`` over a large chain, and the guard's per-call overhead with auditing on vs off.

    .venv/bin/python bench/bench_audit.py                      # SQLite only, 100k writes, verify 1M
    eval "$(bash .ci/postgres.sh)"; .venv/bin/python bench/bench_audit.py --postgres
    .venv/bin/python bench/bench_audit.py --guard-calls 300    # include the guard overhead
    .venv/bin/python bench/bench_audit.py --writes 0 --verify 0 --breakdown 10000   # CPU per write-path step

Results go to stdout as JSON (one object per measurement).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from audit import AuditStore
from audit.chain import DECISIONS, GENESIS
from audit.config import make_engine
from audit.journal import Journal
from audit.migrate import upgrade
from audit.records import prepare_decision
from audit.schema import Base
from guards.types import Action, CallContext, Decision, Finding, PolicyRef, RuleHit, Stage, Verdict

POLICY = PolicyRef("default", "1", "3f" * 32)
SAFE_TEXT = (
    "Hello, I am <PERSON> and my card <CREDIT_CARD> was charged twice on my last order; please refund it to "
    "the same card and write to <EMAIL_ADDRESS>."
)
POSTGRES_URL_ENV = "OMBUD_TEST_POSTGRES_URL"


def decision(i: int) -> Decision:
    """A realistic decision: three scanners, three located findings, subject attributes and an outcome."""
    findings = (
        Finding("PERSON", 0.85, 12, 20),
        Finding("CREDIT_CARD", 1.0, 32, 51),
        Finding("EMAIL_ADDRESS", 1.0, 140, 160),
    )
    return Decision(
        action=Action.REDACT,
        stage=Stage.INPUT,
        text=SAFE_TEXT,
        safe_text=SAFE_TEXT,
        verdicts=(
            Verdict("hygiene", 0.0, (), 0.05),
            Verdict("secrets", 0.0, (), 0.12),
            Verdict("pii", 1.0, findings, 4.2),
        ),
        rules=tuple(RuleHit("pii", f.label, f.score, 0.5, Action.REDACT, "replace") for f in findings),
        policy=POLICY,
        context=CallContext(
            request_id=f"req-{i}",
            session_id=f"sess-{i // 10}",
            application="support-bot",
            model="local-slm",
            subject={"age_band": ("18-39", "40-60", "60+")[i % 3], "region": ("EU", "US")[i % 2]},
            outcome={"approved": i % 4 != 0},
        ),
        latency_ms=4.5,
        original_length=170,
    )


def reset(url: str) -> None:
    """Drop every audit table so a run starts empty."""
    engine = create_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS audit_alembic_version"))
    engine.dispose()


@contextmanager
def collector(freeze: bool = True) -> Iterator[list[float]]:
    """Yield a one-item list that ends up holding the seconds spent in garbage collection inside the block.

    With ``freeze``, everything allocated before (the pre-built inputs) is first hidden from the cyclic
    collector: the harness holds all its decisions at once (about 30 tracked objects each), and every full
    collection that the timed code triggers would re-traverse them, a cost of this harness (a guard holds one
    decision at a time), not of the code under test. ``gc.freeze`` is what long-running servers do after start-up.
    """
    spent = [0.0]
    started = [0.0]

    def timer(phase: str, _: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started[0]

    if freeze:
        gc.collect()
        gc.freeze()
    gc.callbacks.append(timer)
    try:
        yield spent
    finally:
        gc.callbacks.remove(timer)
        gc.unfreeze()


def bench_writes(url: str, n: int, *, freeze: bool = True) -> dict[str, Any]:
    """Decisions/s through ``AuditStore.write`` + ``flush`` vs an ``executemany`` of the very rows it stored into
    freshly created identical tables (same keys and indexes), in the same batches."""
    reset(url)
    decisions = [decision(i) for i in range(n)]
    store = AuditStore(url)
    with collector(freeze) as gc_s:
        started, cpu = time.perf_counter(), time.process_time()
        for d in decisions:
            store.write(d)
        store.flush()
        store_s, store_cpu = time.perf_counter() - started, time.process_time() - cpu
    store.close()

    engine = make_engine(url)  # the store's connection settings (SQLite: WAL, synchronous=NORMAL)
    columns = ", ".join((*DECISIONS.fields, "hash"))
    with engine.begin() as conn:
        rows = [tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM audit_decision ORDER BY seq"))]
        findings = [tuple(r) for r in conn.execute(text("SELECT * FROM audit_finding ORDER BY decision_seq, ord"))]
    engine.dispose()
    reset(url)
    upgrade(engine)  # fresh, identical tables (same keys and indexes) for the baseline
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    raw = engine.raw_connection()
    cursor = raw.cursor()
    started, cpu = time.perf_counter(), time.process_time()
    per_batch = 2_000
    for b in range(0, n, per_batch):  # same batch size and one transaction per batch, like the store
        if engine.dialect.name == "sqlite":
            cursor.execute("BEGIN")  # make_engine leaves transaction control to the caller
        cursor.executemany(
            f"INSERT INTO audit_decision ({columns}) VALUES ({', '.join([mark] * len(rows[0]))})",
            rows[b : b + per_batch],
        )
        cursor.executemany(
            f"INSERT INTO audit_finding VALUES ({', '.join([mark] * len(findings[0]))})",
            findings[3 * b : 3 * (b + per_batch)],  # three findings per decision
        )
        raw.commit()
    baseline_s, baseline_cpu = time.perf_counter() - started, time.process_time() - cpu
    raw.close()
    engine.dispose()
    return {
        "measure": "write",
        "backend": engine.dialect.name,
        "decisions": n,
        "inputs_frozen": freeze,
        "store_gc_s": round(gc_s[0], 2),  # garbage collection during the store's run
        "store_per_s": round(n / store_s),
        "executemany_per_s": round(n / baseline_s),
        "ratio": round(baseline_s / store_s, 2),
        "store_cpu_us": round(store_cpu / n * 1e6, 1),  # this process only (not the PostgreSQL server)
        "executemany_cpu_us": round(baseline_cpu / n * 1e6, 1),
        "load": os.getloadavg()[0],
    }


def bench_breakdown(url: str, n: int, repeats: int = 5) -> dict[str, Any]:
    """CPU µs per decision of each step of the write path, in this thread (no writer thread), the minimum of
    ``repeats`` runs over ``n`` distinct decisions (a shared machine only ever adds time)."""
    decisions = [decision(i) for i in range(n)]
    records = [prepare_decision(d, str) for d in decisions]

    def journal(j: Journal) -> None:
        for r in records:
            j.append(r)
        j.close(keep=False)

    def chain_hash(_: None) -> None:
        prev = GENESIS
        for seq, r in enumerate(records, 1):
            prev = DECISIONS.digest_encoded(seq, prev, DECISIONS.encode(r))

    def empty_store() -> AuditStore:
        reset(url)
        return AuditStore(url, journal=False)

    def commit(store: AuditStore) -> None:  # numbering, hashing and inserting, as the writer thread does
        for b in range(0, n, 2_000):
            store._commit(records[b : b + 2_000])
        store.close()

    tmp = tempfile.TemporaryDirectory()
    steps: dict[str, tuple[Callable[[], Any], Callable[[Any], object]]] = {
        "prepare_us": (lambda: None, lambda _: [prepare_decision(d, str) for d in decisions]),
        "journal_append_us": (lambda: Journal(Path(tmp.name)), journal),
        "chain_hash_us": (lambda: None, chain_hash),
        "commit_us": (empty_store, commit),
    }
    out: dict[str, Any] = {"measure": "breakdown", "backend": make_engine(url).dialect.name, "decisions": n}
    for name, (setup, step) in steps.items():
        runs = []
        for _ in range(repeats):
            state = setup()
            with collector():
                cpu = time.process_time()
                step(state)
                runs.append(time.process_time() - cpu)
        out[name] = round(min(runs) / n * 1e6, 1)
    tmp.cleanup()
    out["load"] = os.getloadavg()[0]
    return out


def _cpu() -> float:
    """CPU seconds of this process and its finished children (verify workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_verify(url: str, n: int, *, reuse: bool, workers: int) -> dict[str, Any]:
    """Seconds for ``verify`` over ``n`` decisions (built through the store's own commit path)."""
    store = AuditStore(url) if reuse else None
    if store is None or store.count() != n:
        if store is not None:
            store.close()
        reset(url)
        store = AuditStore(url, journal=False)
        template = [prepare_decision(decision(i), str) for i in range(1000)]
        started = time.perf_counter()
        for b in range(0, n, 10_000):
            batch = [type(r)((f"{b + j:032x}", *r.values[1:]), r.index) for j, r in enumerate(template * 10)]
            store._commit(batch)  # the writer thread's own path, minus the thread
        print(
            json.dumps(
                {
                    "measure": "fill",
                    "backend": store.engine.dialect.name,
                    "seconds": round(time.perf_counter() - started, 1),
                }
            ),
            flush=True,
        )
    started, cpu = time.perf_counter(), _cpu()
    report = store.verify(workers=workers)
    seconds, cpu_s = time.perf_counter() - started, _cpu() - cpu
    store.close()
    assert report.ok and report.chains[0].checked == n, report
    return {
        "measure": "verify",
        "backend": store.engine.dialect.name,
        "decisions": n,
        "seconds": round(seconds, 1),
        "per_s": round(n / seconds),
        "cpu_s": round(cpu_s, 1),
        "workers": workers,
        "load": os.getloadavg()[0],
    }


def bench_queries(url: str) -> dict[str, Any]:
    """Seconds for the dashboard's typical queries on the verify database (run ``--verify`` first)."""
    from audit import Filters

    store = AuditStore(url, journal=False)
    n = store.count()
    queries: dict[str, Callable[[], object]] = {
        "count_by_day_action": lambda: store.counts("day", "action"),
        "count_by_scanner_label": lambda: store.counts("scanner", "label"),
        "count_subject_region": lambda: store.count(Filters(subject={"region": "EU"})),
        "count_last_10k_by_action": lambda: store.counts("action", filters=Filters(start=_nth_time(store, n - 10_000))),
        "latency_p50_p99": lambda: store.latency_percentiles(),
        "page_of_50_filtered": lambda: store.decisions(Filters(action="redact", application="support-bot"), limit=50),
        "get_decision": lambda: store.get_decision(f"{n // 2:032x}"),
        "to_frame_all": lambda: store.to_frame(),
    }
    out: dict[str, Any] = {"measure": "queries", "backend": store.engine.dialect.name, "decisions": n}
    for name, run in queries.items():
        started = time.perf_counter()
        run()
        out[name] = round(time.perf_counter() - started, 2)
    out["load"] = os.getloadavg()[0]
    store.close()
    return out


def _nth_time(store: AuditStore, seq: int) -> datetime:
    page = store.decisions(limit=1, before_seq=seq + 1)
    return page.items[0].timestamp


def bench_guard(calls: int, repeats: int) -> dict[str, Any]:
    """``Guard.check`` with auditing off vs on (SQLite store, default journaled mode), in alternating blocks.

    Reports wall-clock and CPU time per call (CPU of all threads, so the writer thread's work counts: each "on"
    block ends with a flush). On a shared machine the CPU figure is the stable one.
    """
    from guards.guard import Guard

    dataset = Path("/work/shared/data/pii/presidio_synth_v2/train.jsonl")
    texts = [json.loads(line)["text"] for line in dataset.open()][:calls] if dataset.exists() else [SAFE_TEXT] * calls
    with tempfile.TemporaryDirectory() as tmp:
        store = AuditStore(f"sqlite:///{tmp}/guard.db")
        guards = {"off": Guard.from_policy("default"), "on": Guard.from_policy("default", audit=store)}
        for g in guards.values():
            g.warmup()
            for t in texts[:20]:
                g.check(t)
        store.flush()
        wall: dict[str, list[float]] = {"off": [], "on": []}
        cpu: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(repeats):
            for name, g in guards.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                for t in texts:
                    g.check(t)
                if name == "on":
                    store.flush()
                wall[name].append((time.perf_counter() - started) / len(texts))
                cpu[name].append((time.process_time() - cpu_started) / len(texts))
        store.close()
    med = {k: statistics.median(v) * 1000 for k, v in wall.items()}
    cpu_med = {k: statistics.median(v) * 1000 for k, v in cpu.items()}
    return {
        "measure": "guard",
        "calls": calls,
        "repeats": repeats,
        "off_ms": round(med["off"], 3),
        "on_ms": round(med["on"], 3),
        "overhead_pct": round((med["on"] - med["off"]) / med["off"] * 100, 2),
        "off_cpu_ms": round(cpu_med["off"], 3),
        "on_cpu_ms": round(cpu_med["on"], 3),
        "cpu_overhead_pct": round((cpu_med["on"] - cpu_med["off"]) / cpu_med["off"] * 100, 2),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    """Run the selected benchmarks and print one JSON line per result."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=100_000, help="decisions for the write benchmark (0: skip)")
    parser.add_argument("--verify", type=int, default=1_000_000, help="decisions for the verify benchmark (0: skip)")
    parser.add_argument("--breakdown", type=int, default=0, help="decisions for the per-step CPU breakdown (0: skip)")
    parser.add_argument("--postgres", action="store_true", help=f"also PostgreSQL (URL from ${POSTGRES_URL_ENV})")
    parser.add_argument("--postgres-verify", action="store_true", help="also verify on PostgreSQL")
    parser.add_argument("--queries", action="store_true", help="time dashboard queries on the verify database")
    parser.add_argument("--workers", type=int, default=1, help="verify worker processes (default 1)")
    parser.add_argument("--guard-calls", type=int, default=0, help="texts per guard overhead round (0: skip)")
    parser.add_argument("--guard-repeats", type=int, default=5)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the SQLite files go")
    parser.add_argument(
        "--gc-sees-inputs", action="store_true", help="leave the pre-built decisions visible to the garbage collector"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse an existing verify database of the right size")
    args = parser.parse_args()

    os.environ.setdefault("OMBUD_AUDIT_JOURNAL_DIR", str(Path(args.dir) / "ombud-bench-journal"))
    jobs: list[Callable[[], dict[str, Any]]] = []
    sqlite_url = f"sqlite:///{Path(args.dir) / 'ombud-bench-writes.db'}"
    verify_url = f"sqlite:///{Path(args.dir) / 'ombud-bench-verify.db'}"
    if args.writes:
        jobs.append(lambda: bench_writes(sqlite_url, args.writes, freeze=not args.gc_sees_inputs))
    if args.breakdown:
        jobs.append(lambda: bench_breakdown(sqlite_url, args.breakdown))
    pg = os.environ.get(POSTGRES_URL_ENV)
    if (args.postgres or args.postgres_verify) and not pg:
        parser.error(f'{POSTGRES_URL_ENV} is not set: eval "$(bash .ci/postgres.sh)" first')
    if args.postgres and args.writes:
        jobs.append(lambda: bench_writes(pg, args.writes, freeze=not args.gc_sees_inputs))  # type: ignore[arg-type]
    if args.verify:
        jobs.append(lambda: bench_verify(verify_url, args.verify, reuse=args.reuse, workers=args.workers))
        if args.postgres_verify:
            jobs.append(lambda: bench_verify(pg, args.verify, reuse=args.reuse, workers=args.workers))  # type: ignore[arg-type]
    if args.queries:
        jobs.append(lambda: bench_queries(verify_url))
    if args.guard_calls:
        jobs.append(lambda: bench_guard(args.guard_calls, args.guard_repeats))
    print(
        json.dumps(
            {
                "measure": "run",
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "cpus": os.cpu_count(),
                "load": os.getloadavg(),
            }
        ),
        flush=True,
    )
    for job in jobs:
        print(json.dumps(job()), flush=True)


if __name__ == "__main__":
    main()
