"""Report benchmark: the whole ``ombud report`` command over a large audit log, its parts, and a naive pandas baseline.

The log holds ``--decisions`` chained decisions (default 1,000,000) over 30 days, each with a unique redacted text
(so the identity-group pass sees every row), a guard action, subject sex/race, a model outcome with an inline ground
truth, PII findings, and 10,000 reviewer labels. First ``ombud report`` runs as a user runs it (a child process:
build, hash-chain verification, HTML/PDF/JSON/CSV bundle), timed in wall and CPU seconds (its verify workers
included); then its parts one after the other in this process: ``build_report`` without verification,
``AuditStore.verify`` with the report's workers, ``export_report``. ombud aggregates in SQL; the baseline loads the
decisions with ``AuditStore.to_frame`` and computes the same activity counts and per-group rates (point estimates
only, no bootstrap) in pandas / fairlearn, in this process on the same database.

    .venv/bin/python bench/bench_reports.py                    # 1M decisions in /tmp/ombud-bench-reports.db
    .venv/bin/python bench/bench_reports.py --decisions 100000 --skip-baseline

Results go to stdout as JSON (one object per measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from audit import AuditStore, Filters
from audit.chain import FEEDBACK, append
from audit.records import Prepared, dumps, prepare_decision, to_us
from guards.policy import load_policy
from guards.types import Action, CallContext, Decision, Finding, RuleHit, Stage, Verdict

DEFAULT = load_policy("default")
POLICY, POLICY_DOC = DEFAULT.ref, DEFAULT.document
START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
TEXTS = (
    "Hi, I am <PERSON>; as a Muslim woman I want to know about order {i}.",
    "Please refund order {i} to <CREDIT_CARD>, thanks.",
    "My elderly father asks whether ticket {i} covers wheelchair users.",
    "Tell me a joke about black people (request {i}).",
    "What are the opening hours of branch {i}?",
    "Write to <EMAIL_ADDRESS> about the gay couple's booking {i}.",
)
ACTIONS = (Action.ALLOW, Action.ALLOW, Action.FLAG, Action.REDACT, Action.ALLOW, Action.BLOCK)
SEX = ("Female", "Male")
RACE = ("White", "White", "White", "Black", "Asian-Pac-Islander", "Other")


def _decision(i: int) -> Decision:
    action = ACTIONS[(i * 7) % len(ACTIONS)]
    finding = Finding("PERSON", 0.85, 9, 17, {"recognizer": "SpacyRecognizer", "context": []})
    approved = (i * 13) % 10 < (4 if i % 2 else 6)
    return Decision(
        action=action,
        stage=Stage.INPUT,
        text="",
        safe_text="",
        verdicts=(Verdict("hygiene", 0.0, (), 0.05), Verdict("pii", 0.85, (finding,), 4.0)),
        rules=(RuleHit("pii", "PERSON", 0.85, 0.5, action, "replace"),) if action is not Action.ALLOW else (),
        policy=POLICY,
        context=CallContext(
            application="support-bot",
            model="local-slm",
            subject={"sex": SEX[i % 2], "race": RACE[(i // 2) % len(RACE)]},
            outcome={"approved": approved, "ground_truth": (i * 31) % 10 < 5},
        ),
        latency_ms=3.0 + (i % 17),
    )


def fill(store: AuditStore, n: int) -> None:
    """Append ``n`` decisions (unique texts and ids, spread over ``DAYS`` days) and 10,000 reviewer labels."""
    template = [prepare_decision(_decision(i), str) for i in range(1200)]
    step_us = DAYS * 86_400_000_000 // n
    start_us = to_us(START)
    ids = []
    for b in range(0, n, 10_000):
        batch = []
        for j in range(min(10_000, n - b)):
            i = b + j
            values = list(template[i % len(template)].values)
            values[0], values[1] = f"{i:032x}", start_us + i * step_us
            values[12] = TEXTS[i % len(TEXTS)].format(i=i)
            batch.append(Prepared(tuple(values), template[i % len(template)].index))
        store._commit(batch)  # the writer thread's own path, minus the thread
        ids.append(batch[0].values[0])
    labels = ("confirmed", "false_positive", "false_negative")
    now = to_us(datetime.now(UTC))
    feedback = [
        Prepared((uuid.uuid4().hex, f"{k * (n // 10_000):032x}", now, labels[k % 3], "bench", ""), [])
        for k in range(10_000)
    ]
    with store.engine.begin() as conn:
        append(conn, FEEDBACK, feedback)


def baseline(store: AuditStore, since: datetime, until: datetime) -> dict[str, Any]:
    """The naive way: every decision into pandas, then the same aggregates (no bootstrap) and identity matching."""
    from fairlearn.metrics import MetricFrame, selection_rate

    from audit.fairness import load_lexicon

    started, cpu = time.perf_counter(), time.process_time()
    frame = store.to_frame(Filters(start=since, end=until), scores=True)
    loaded = time.perf_counter() - started
    out: dict[str, Any] = {"by_action": frame["action"].value_counts().to_dict()}
    out["by_day"] = frame.groupby([frame["timestamp"].dt.date, "action"]).size().to_dict()
    out["latency"] = frame["latency_ms"].quantile([0.5, 0.9, 0.99]).to_dict()
    blocked = frame["action"] == "block"
    for feature in ("subject.sex", "subject.race"):
        MetricFrame(metrics=selection_rate, y_true=blocked, y_pred=blocked, sensitive_features=frame[feature])
        MetricFrame(
            metrics=selection_rate,
            y_true=frame["outcome.ground_truth"],
            y_pred=frame["outcome.approved"],
            sensitive_features=frame[feature],
        )
    with store.engine.connect() as conn:  # the frame has no text: fetch it the naive way too
        from sqlalchemy import text

        texts = [r[0] for r in conn.execute(text("SELECT safe_text FROM audit_decision ORDER BY seq"))]
    lexicon = load_lexicon()
    pattern = re.compile("|".join(re.escape(t) for t in sorted(lexicon.terms, key=len, reverse=True)), re.I)
    frame["identity"] = [sorted({lexicon.terms[m.lower()].group for m in pattern.findall(t)}) for t in texts]
    exploded = frame.explode("identity")
    MetricFrame(
        metrics=selection_rate,
        y_true=exploded["action"] == "block",
        y_pred=exploded["action"] == "block",
        sensitive_features=exploded["identity"].fillna("(none)"),
    )
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "load_seconds": round(loaded, 1),
    }


def _cpu() -> float:
    """CPU seconds of this process and of its waited-for children (the report command, verify workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    started, cpu = time.perf_counter(), _cpu()
    result = fn()
    return result, round(time.perf_counter() - started, 1), round(_cpu() - cpu, 1)


def timed_command(url: str, since: datetime, until: datetime, out: Path) -> dict[str, Any]:
    """Run ``ombud report`` (chain verification included, every format) as a user would; wall and CPU seconds."""
    argv = [sys.executable, "-m", "guards.cli", "report", "--db", url, "--since", since.isoformat()]
    argv += ["--until", until.isoformat(), "--out", str(out), "--quiet"]
    done, seconds, cpu = _timed(lambda: subprocess.run(argv, check=False, capture_output=True, text=True))
    if done.returncode != 0:
        raise SystemExit(f"ombud report failed ({done.returncode}): {done.stderr.strip()}")
    return {"seconds": seconds, "cpu_seconds": cpu, "load": os.getloadavg()[0], "summary": done.stdout.strip()}


def breakdown(store: AuditStore, since: datetime, until: datetime) -> tuple[Any, dict[str, Any]]:
    """The command's three parts one after the other, in this process: build, chain verification, export."""
    from audit.reports import build_report, export_report
    from audit.reports.integrity import WORKERS

    report, built, built_cpu = _timed(lambda: build_report(store, since, until, n_boot=200, verify=False))
    checked, verified, verified_cpu = _timed(lambda: store.verify(workers=WORKERS))
    assert checked.ok
    with tempfile.TemporaryDirectory() as tmp:
        _, exported, exported_cpu = _timed(lambda: export_report(report, Path(tmp) / "bundle"))
    return report, {
        "build_seconds": built,
        "build_cpu_seconds": built_cpu,
        "verify_seconds": verified,
        "verify_cpu_seconds": verified_cpu,
        "verify_workers": WORKERS,
        "export_seconds": exported,
        "export_cpu_seconds": exported_cpu,
        "fairness_reports": len(report.fairness) + len(report.model_fairness),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    """Fill (or reuse) the database, then time ombud's report and the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "ombud-bench-reports.db"))
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--out", default=None, help="new bundle directory for the command (default: temporary)")
    args = parser.parse_args()
    os.environ.setdefault("OMBUD_AUDIT_JOURNAL_DIR", str(Path(args.db).parent / "ombud-bench-journal"))
    url = f"sqlite:///{args.db}"
    store = AuditStore(url, journal=False)
    if store.count() != args.decisions:
        store.close()
        Path(args.db).unlink(missing_ok=True)
        store = AuditStore(url, journal=False)
        store.register_policy(POLICY, POLICY_DOC)
        started = time.perf_counter()
        fill(store, args.decisions)
        print(
            json.dumps(
                {"measure": "fill", "decisions": args.decisions, "seconds": round(time.perf_counter() - started, 1)}
            ),
            flush=True,
        )
    since, until = START, START + timedelta(days=DAYS + 1)
    with tempfile.TemporaryDirectory() as tmp:
        command = timed_command(url, since, until, args.out or Path(tmp) / "bundle")
    print(json.dumps({"measure": "ombud report", "decisions": args.decisions, **command}), flush=True)
    report, phases = breakdown(store, since, until)
    assert report.activity.total == args.decisions
    print(json.dumps({"measure": "breakdown", "decisions": args.decisions, **phases}), flush=True)
    built = phases["build_seconds"]
    if not args.skip_baseline:
        base = baseline(store, since, until)
        print(
            json.dumps(
                {
                    "measure": "pandas baseline",
                    "decisions": args.decisions,
                    **base,
                    "ratio": round(base["seconds"] / built, 1),
                }
            ),
            flush=True,
        )
    store.close()
    print(dumps({"measure": "done"}))


if __name__ == "__main__":
    main()
