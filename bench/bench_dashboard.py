"""Dashboard first paint on a 1,000,000-decision SQLite audit log, per page, vs a naive full-table pandas load.

    .venv/bin/python bench/bench_dashboard.py                 # builds /tmp/ombud-bench-dashboard.db once (~2 min)
    .venv/bin/python bench/bench_dashboard.py --decisions 100000 --dir /tmp/small
    .venv/bin/python bench/bench_dashboard.py --decisions 200000 --db postgresql+psycopg://... --aggregates-only
    .venv/bin/python bench/bench_dashboard.py --pages fairness --no-baseline   # one page, both ranges

The per-day rollups are brought up to date (timed) before the pages run, as a store does on its first aggregate
query after an upgrade or a bulk load. Each page is run in Streamlit's ``AppTest`` (the real script, widgets and
queries, no browser) by a signed-in officer, after clearing every ``st.cache_data`` entry: "cold" is the first
paint of a visitor who hits no cache, "warm" the same page again (cached queries). Pages run with the default
filter (last 7 days) and with "All time". The baseline is what a dashboard without SQL aggregation would do first:
``AuditStore.to_frame()`` of the whole log, then the Overview's group-bys in pandas. Results go to stdout as JSON
(one object per measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from audit import AuditStore
from audit.records import Prepared, prepare_decision, to_us
from guards import load_policy
from guards.types import Action, CallContext, Decision, Finding, RuleHit, Stage, Verdict

PAGES = ("overview", "decisions", "fairness", "explanations", "policies", "integrity")
DAYS = 180
LABELS = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "LOCATION", "US_SSN", "IBAN_CODE")
APPS = (("support-bot", "local-slm"), ("hr-assistant", "gpt-x"), ("claims-triage", "local-slm"))


def template(i: int, rng: random.Random, policies: list[Any]) -> Decision:
    """A varied, realistic decision: action mix, 0-3 PII findings, a secret now and then, subjects and outcomes."""
    labels = rng.sample(LABELS, rng.choice((0, 0, 1, 1, 2, 3)))
    findings = tuple(Finding(lb, round(rng.uniform(0.4, 1.0), 2), 10 * k, 10 * k + 8) for k, lb in enumerate(labels))
    secret = (Finding("AWS_ACCESS_KEY", 1.0, 60, 80),) if rng.random() < 0.03 else ()
    action = Action.BLOCK if secret else Action.REDACT if findings else rng.choice((Action.ALLOW,) * 9 + (Action.FLAG,))
    rules = tuple(RuleHit("pii", f.label, f.score, 0.5, Action.REDACT, "replace") for f in findings)
    rules += tuple(RuleHit("secrets", f.label, f.score, 0.8, Action.BLOCK, "replace") for f in secret)
    text = " ".join(f"<{lb}>" for lb in labels) + " please help me with my request about the invoice."
    application, model = APPS[i % len(APPS)]
    return Decision(
        action=action,
        stage=(Stage.INPUT, Stage.OUTPUT)[i % 2],
        text=text,
        safe_text=text,
        verdicts=(
            Verdict("hygiene", 0.0, (), 0.03),
            Verdict("secrets", 1.0 if secret else 0.0, secret, 0.1),
            Verdict("pii", max((f.score for f in findings), default=0.0), findings, rng.uniform(3, 40)),
        ),
        rules=rules,
        policy=policies[i % len(policies)].ref,
        context=CallContext(
            request_id=f"req-{i}",
            application=application,
            model=model,
            subject={"gender": rng.choice(("female", "male")), "age_band": rng.choice(("18-39", "40-60", "60+"))},
            outcome={"approved": rng.random() < 0.7, "ground_truth": rng.random() < 0.7},
        ),
        latency_ms=rng.uniform(4, 60),
        original_length=len(text),
    )


def build(url: str, n: int) -> None:
    """Fill an empty store with ``n`` decisions spread over the last ``DAYS`` days, in chain (= time) order."""
    rng = random.Random(7)
    policies = [load_policy("default"), load_policy("strict")]
    store = AuditStore(url, journal=False)
    for policy in policies:
        store.register_policy(policy.ref, policy.document)
    templates = [prepare_decision(template(i, rng, policies), str) for i in range(2000)]
    start_us = to_us(datetime.now(UTC) - timedelta(days=DAYS))
    step_us = DAYS * 86_400_000_000 // n
    batch = 10_000
    started = time.perf_counter()
    for b in range(0, n, batch):
        records = []
        for j in range(b, min(b + batch, n)):
            model = templates[j % len(templates)]
            records.append(Prepared((f"{j:032x}", start_us + j * step_us, *model.values[2:]), model.index))
        store._commit(records)  # the writer thread's own commit path, minus the thread (as bench_audit does)
    print(json.dumps({"measure": "fill", "decisions": n, "seconds": round(time.perf_counter() - started, 1)}))
    store.close()


def rollup(url: str) -> dict[str, Any]:
    """Bring the per-day rollups up to date (after a fill or an upgrade: every decision; else none), timed."""
    store = AuditStore(url, journal=False)
    started, cpu = time.perf_counter(), time.process_time()
    added = store.refresh_rollups()
    out = {"measure": "rollup_refresh", "decisions": added, "seconds": round(time.perf_counter() - started, 1)}
    store.close()
    return out | {"cpu_s": round(time.process_time() - cpu, 1)}


def first_paint(url: str, page: str, time_range: str, repeats: int) -> dict[str, Any]:
    """Seconds (wall, and CPU of this process) for one page's run with every data cache cleared, then again (warm)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import dashboards
    from dashboards import auth, ui

    app = str(Path(dashboards.__file__).with_name("app.py"))
    cold: list[float] = []
    cold_cpu: list[float] = []
    warm: list[float] = []
    for _ in range(repeats):
        at = AppTest.from_file(app, default_timeout=600)
        at.session_state[ui.USER_KEY] = auth.User("bench", auth.Role.OFFICER)
        at.session_state["f_range"] = time_range
        at.run()
        at.switch_page(f"pages/{page}.py")
        st.cache_data.clear()
        started, cpu = time.perf_counter(), time.process_time()
        at.run()
        cold.append(time.perf_counter() - started)
        cold_cpu.append(time.process_time() - cpu)
        assert not at.exception, at.exception
        started = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - started)
    return {
        "measure": "first_paint",
        "page": page,
        "range": time_range,
        "cold_s": round(statistics.median(cold), 3),
        "cold_max_s": round(max(cold), 3),
        "cold_cpu_s": round(statistics.median(cold_cpu), 3),
        "warm_s": round(statistics.median(warm), 3),
        "load": os.getloadavg()[0],
    }


def aggregates(url: str, repeats: int) -> list[dict[str, Any]]:
    """The Overview's four "All time" aggregates through the store (rollups) and as raw SQL on the log (s, CPU s).

    The CPU seconds are this process's only: on PostgreSQL the server's work shows in the wall seconds.
    """
    import numpy as np

    from audit import Filters, query

    store = AuditStore(url, journal=False)
    every = Filters()
    runs = {
        "day x action": (lambda _: store.counts("day", "action"), lambda c: query.counts(c, ("day", "action"), every)),
        "scanner x label": (
            lambda _: store.counts("scanner", "label"),
            lambda c: query.counts(c, ("scanner", "label"), every),
        ),
        "application x model x action": (
            lambda _: store.counts("application", "model", "action"),
            lambda c: query.counts(c, ("application", "model", "action"), every),
        ),
        "latency p50/p90/p99": (
            lambda _: store.latency_percentiles(),
            lambda c: np.percentile(query.latencies(c, every)[1], [50, 90, 99]),
        ),
    }
    out = []
    for name, pair in runs.items():
        timings: dict[str, list[float]] = {"rollups_cpu_s": [], "rollups_s": [], "raw_cpu_s": [], "raw_s": []}
        for _ in range(repeats):
            for kind, run in zip(("rollups", "raw"), pair, strict=True):
                with store.engine.connect() as conn:
                    started, cpu = time.perf_counter(), time.process_time()
                    run(conn)
                    timings[f"{kind}_cpu_s"].append(time.process_time() - cpu)
                    timings[f"{kind}_s"].append(time.perf_counter() - started)
        medians = {k: round(statistics.median(v), 4) for k, v in timings.items()}
        out.append({"measure": "aggregate", "query": name, **medians, "load": os.getloadavg()[0]})
    store.close()
    return out


def naive(url: str) -> dict[str, Any]:
    """The baseline: the whole log into pandas (``to_frame``), then the Overview's aggregates in pandas."""
    store = AuditStore(url, journal=False)
    started = time.perf_counter()
    frame = store.to_frame()
    load_s = time.perf_counter() - started
    frame.groupby([frame["timestamp"].dt.date, "action"]).size()
    frame.groupby(["application", "model", "action"]).size()
    frame["latency_ms"].quantile([0.5, 0.9, 0.99])
    total_s = time.perf_counter() - started
    store.close()
    return {"measure": "naive_overview", "rows": len(frame), "load_s": round(load_s, 2), "total_s": round(total_s, 2)}


def _holds_decisions(url: str) -> bool:
    with AuditStore(url, journal=False) as store:
        return bool(store.stats()["decisions"])


def main() -> None:
    """Build the database if needed, then print one JSON line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where the SQLite file goes (kept for reuse)")
    parser.add_argument("--repeats", type=int, default=3, help="cold/warm runs per page (median reported)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive full-table load")
    parser.add_argument("--db", help="a database URL (e.g. PostgreSQL) instead of the SQLite file; filled if empty")
    parser.add_argument("--aggregates-only", action="store_true", help="time the aggregates, not the pages")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated pages to time (default: all)")
    args = parser.parse_args()

    path = Path(args.dir) / f"ombud-bench-dashboard-{args.decisions}.db"
    url = args.db or f"sqlite:///{path}"
    os.environ["OMBUD_DATABASE_URL"] = url
    if not (path.exists() if args.db is None else _holds_decisions(url)):
        build(url, args.decisions)
    print(json.dumps(rollup(url)), flush=True)
    print(json.dumps({"measure": "run", "at": datetime.now(UTC).isoformat(timespec="seconds"),
                      "decisions": args.decisions, "cpus": os.cpu_count(), "load": os.getloadavg()}))  # fmt: skip
    for line in aggregates(url, args.repeats):
        print(json.dumps(line), flush=True)
    if args.aggregates_only:
        return
    for time_range in ("Last 7 days", "All time"):
        for page in args.pages.split(","):
            print(json.dumps(first_paint(url, page, time_range, args.repeats)), flush=True)
    if not args.no_baseline:
        print(json.dumps(naive(url)), flush=True)


if __name__ == "__main__":
    main()
