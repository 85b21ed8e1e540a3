"""The CSV export: one machine-readable table per aspect of the report (long format, one value per row)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.reports.model import Report


def _write(path: Path, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(["" if v is None else v for v in row] for row in rows)


def write_csv(report: Report, directory: Path) -> list[Path]:
    """Write the report's tables as CSV files into ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    a = report.activity
    tables: dict[str, tuple[Sequence[str], Iterable[Sequence[Any]]]] = {
        "actions.csv": (("action", "decisions"), sorted(a.by_action.items())),
        "activity_by_day.csv": (("day", "action", "decisions"), ((d.isoformat(), x, n) for d, x, n in a.by_day)),
        "detections.csv": (("scanner", "label", "decisions"), a.top_detections),
        "detections_by_day.csv": (
            ("day", "detection", "decisions"),
            ((d.isoformat(), k, n) for d, k, n in a.detections_by_day),
        ),
        "fairness_groups.csv": (
            ("subject", "feature", "group", "n", "n_labelled", "sufficient", "metric", "value", "ci_low", "ci_high"),
            _group_rows(report),
        ),
        "fairness_findings.csv": (
            ("subject", "feature", "check", "metric", "value", "ci_low", "ci_high", "threshold", "status", "message"),
            (
                (
                    f.subject,
                    f.feature,
                    f.check,
                    f.metric,
                    f.value,
                    *(f.ci or (None, None)),
                    f.threshold,
                    f.status,
                    f.message,
                )
                for f in report.findings
            ),
        ),
        "explanations.csv": (
            ("decision_id", "scanner", "method", "label", "item", "value", "detail"),
            _explanation_rows(report),
        ),
        "policies.csv": (
            ("name", "version", "sha256", "decisions", "first_used", "last_used"),
            (
                (p.name, p.version, p.sha256, p.decisions, p.first.isoformat(), p.last.isoformat())
                for p in report.policies
            ),
        ),
        "chain.csv": (
            ("ok", "head_seq", "head_hash", "message"),
            [(report.chain.ok, report.chain.head_seq, report.chain.head_hash, report.chain.message)],
        ),
        "compliance.csv": (
            ("framework", "clause", "status", "note"),
            ((c.requirement.framework, c.requirement.clause, c.status, c.note) for c in report.compliance),
        ),
    }
    paths = []
    for name, (headers, rows) in tables.items():
        _write(directory / name, headers, rows)
        paths.append(directory / name)
    return paths


def _group_rows(report: Report) -> Iterable[Sequence[Any]]:
    for r in (*report.fairness, *report.model_fairness):
        for group, row in r.by_group.iterrows():
            for metric in r.rates:
                value, lo, hi = (row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"])
                yield (
                    r.subject,
                    r.feature,
                    group,
                    int(row["n"]),
                    int(row["n_labelled"]),
                    bool(row["sufficient"]),
                    metric,
                    *(None if v != v else float(v) for v in (value, lo, hi)),
                )


def _explanation_rows(report: Report) -> Iterable[Sequence[Any]]:
    for e in report.explanations:
        for s in e.scanners:
            for t in s.tokens:
                yield (e.decision_id, s.scanner, s.method, s.label, t.token, t.value, None)
            for f in s.findings:
                yield (e.decision_id, s.scanner, s.method, f.label, f.recognizer, f.score, " ".join(f.context))
