"""The report as format-neutral content (sections of headings, paragraphs, tables and figures).

HTML and PDF both render exactly this, so the two exports always say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from audit.explain import ScannerExplanation
from audit.fairness import FairnessReport
from audit.reports import plots
from audit.reports.model import EMPTY_LOG, Report

Tone = Literal["", "ok", "warn", "fail"]
SECTION_TITLES = (
    "Activity summary",
    "Fairness",
    "Interpretability",
    "Policy versions in force",
    "Audit chain verification",
    "Compliance mapping",
)
"""The sections of every report, in order."""


@dataclass(frozen=True, slots=True)
class Heading:
    """A sub-heading inside a section."""

    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A paragraph; ``tone`` colours a status line."""

    text: str
    tone: Tone = ""


@dataclass(frozen=True, slots=True)
class Table:
    """A table of text cells."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Figure:
    """A chart as PNG bytes."""

    png: bytes
    caption: str


Block = Heading | Paragraph | Table | Figure


@dataclass(frozen=True, slots=True)
class Section:
    """A titled section of blocks."""

    title: str
    blocks: tuple[Block, ...]


def num(value: float | int | None, digits: int = 3) -> str:
    """A number for a table cell (``—`` for missing)."""
    if value is None or value != value:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def interval(ci: tuple[float, float] | None) -> str:
    """A confidence interval for a table cell."""
    return "—" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def sections(report: Report, *, figures: bool = True) -> list[Section]:
    """Every section of ``report`` (with charts unless ``figures`` is False)."""
    return [
        Section(SECTION_TITLES[0], tuple(_activity(report, figures))),
        Section(SECTION_TITLES[1], tuple(_fairness(report, figures))),
        Section(SECTION_TITLES[2], tuple(_interpretability(report, figures))),
        Section(SECTION_TITLES[3], tuple(_policies(report))),
        Section(SECTION_TITLES[4], tuple(_chain(report))),
        Section(SECTION_TITLES[5], tuple(_compliance(report))),
    ]


def summary(report: Report) -> list[tuple[str, str]]:
    """The key facts shown under the title."""
    return [
        (
            "Window",
            f"{report.since.isoformat() if report.since else 'start'} to "
            f"{report.until.isoformat() if report.until else report.generated_at.isoformat()}",
        ),
        ("Policy", report.policy or "all"),
        ("Decisions", num(report.activity.total)),
        ("Chain", f"{report.chain.verdict} — head {report.chain.head_hash or '—'}"),
        ("Generated", f"{report.generated_at.isoformat()} by ombud {report.tool_version}"),
        ("Database", report.database),
    ]


def _activity(report: Report, figures: bool) -> Iterator[Block]:
    a = report.activity
    if report.empty:
        yield Paragraph(EMPTY_LOG, "warn")
        return
    yield Paragraph(
        f"{a.total:,} decisions from {a.first:%Y-%m-%d %H:%M} to {a.last:%Y-%m-%d %H:%M} UTC. "
        + "Latency "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in a.latency_ms.items())
        + "."
    )
    yield Table(
        ("action", "decisions", "share"),
        tuple((k, num(v), f"{v / a.total:.1%}") for k, v in sorted(a.by_action.items(), key=lambda kv: -kv[1])),
        "Action mix",
    )
    yield Table(("stage", "decisions"), tuple((k, num(v)) for k, v in a.by_stage.items()), "By stage")
    if a.by_application:
        rows = tuple((k, num(v)) for k, v in sorted(a.by_application.items(), key=lambda kv: -kv[1])[:10])
        yield Table(("application", "decisions"), rows, "By application")
    if figures:
        yield Figure(plots.actions_by_day(a), "Decisions per day by action")
    if a.top_detections:
        yield Table(
            ("scanner", "label", "decisions"), tuple((s, lb, num(n)) for s, lb, n in a.top_detections), "Top detections"
        )
        if figures:
            yield Figure(plots.detections_by_day(a), "Top detections over time")
    else:
        yield Paragraph("No scanner detected anything in the window.")


def _fairness(report: Report, figures: bool) -> Iterator[Block]:
    t = report.thresholds
    yield Paragraph(
        f"Policy thresholds: demographic parity ratio ≥ {t.demographic_parity_ratio_min} (four-fifths rule at 0.8), "
        f"equalized odds difference ≤ {t.equalized_odds_difference_max}; groups with fewer than {t.min_group_size} "
        "decisions are shown as insufficient and left out of disparities. Intervals are 95% bootstrap intervals."
    )
    if report.empty:
        yield Paragraph(EMPTY_LOG, "warn")
        return
    findings = report.findings
    failed = [f for f in findings if f.status == "fail"]
    tone: Tone = "fail" if failed else "ok" if any(f.status == "pass" for f in findings) else "warn"
    yield Paragraph(
        f"{len(failed)} of {sum(f.status != 'insufficient' for f in findings)} assessed fairness checks failed "
        f"({sum(f.status == 'insufficient' for f in findings)} could not be assessed for lack of data).",
        tone,
    )
    yield Table(
        ("subject", "feature", "check", "metric", "value", "95% CI", "threshold", "status"),
        tuple(
            (f.subject, f.feature, f.check, f.metric, num(f.value), interval(f.ci), num(f.threshold), f.status.upper())
            for f in findings
        ),
        "Findings",
    )
    for title, reports in (("The guard's decisions", report.fairness), ("The model's outcomes", report.model_fairness)):
        shown = [r for r in reports if r.n and len(r.by_group) > 1]
        if not shown:
            continue
        yield Heading(title)
        for r in shown:
            yield from _fairness_detail(r, figures)


def _fairness_detail(r: FairnessReport, figures: bool) -> Iterator[Block]:
    parity = "selection_rate" if r.subject.startswith("model:") else "intervention_rate"
    metrics = [m for m in r.rates if m != "true_positive_rate"]
    rows = []
    for group, row in r.by_group.iterrows():
        cells = [str(group), num(int(row["n"])), num(int(row["n_labelled"])), "yes" if row["sufficient"] else "NO"]
        rows.append(tuple(cells + [num(float(row[m])) for m in metrics]))
    missing = f"; {r.missing:,} decisions lack the attribute" if r.missing else ""
    yield Table(
        ("group", "n", "labelled", "sufficient", *metrics),
        tuple(rows),
        f"{r.subject} by {r.feature}{missing}",
    )
    spread = [
        (d.metric, num(d.difference), interval(d.difference_ci), num(d.ratio), interval(d.ratio_ci))
        for d in r.disparities.values()
        if d.difference is not None
    ]
    if r.equalized_odds is not None:
        e = r.equalized_odds
        spread.append((e.metric, num(e.difference), interval(e.difference_ci), "—", "—"))
    if spread:
        yield Table(("metric", "difference", "95% CI", "ratio", "95% CI"), tuple(spread), "Between-group disparities")
    if figures and r.by_group["sufficient"].any():
        yield Figure(plots.group_rates(r, parity), f"{parity.replace('_', ' ')} by {r.feature}")


def _interpretability(report: Report, figures: bool) -> Iterator[Block]:
    yield Paragraph(
        "Classifier scanners (toxicity, bias, injection) are explained with SHAP token attributions on the redacted "
        "text: the base value plus the attributions equals the scanner's score. PII and pattern scanners are "
        "explained by their findings (entity, recogniser, score, context words)."
    )
    if not report.explanations and not report.drivers:
        yield Paragraph("No flagged, redacted or blocked decision to explain in the window.")
    for e in report.explanations:
        yield Heading(f"Decision {e.decision_id} — {e.action} ({e.stage}, {e.policy})")
        yield Paragraph(f"Stored (redacted) text: “{_clip(e.safe_text)}”")
        for s in e.scanners:
            yield from _scanner(s)
    for d in report.drivers:
        yield Heading(f"What drives {d.scanner}")
        yield Paragraph(f"{d.explained} of {d.decisions:,} decisions where {d.scanner} fired were explained.")
        if d.tokens:
            yield Table(
                ("token", "decisions", "mean SHAP value"),
                tuple((t.token, num(t.count), num(t.mean_value)) for t in d.tokens),
            )
            if figures:
                yield Figure(plots.drivers(d), f"Tokens driving {d.scanner}")


def _scanner(s: ScannerExplanation) -> Iterator[Block]:
    rule = f", rule {s.rule}" if s.rule else ""
    if s.error:
        yield Paragraph(f"{s.scanner}: could not be explained ({s.error}).", "warn")
    elif s.method == "shap":
        yield Paragraph(
            f"{s.scanner} scored {s.label} {s.score:.3f}{rule}. Base value {num(s.base_value)} + attributions "
            f"(additivity error {num(s.additivity_error, 6)})."
        )
        yield Table(("token", "SHAP value"), tuple((t.token, f"{t.value:+.4f}") for t in s.top(8)), "Top tokens")
    else:
        yield Paragraph(f"{s.scanner} scored {s.score:.3f}{rule}; explained by its findings.")
        yield Table(
            ("entity", "recogniser", "score", "context words", "span"),
            tuple(
                (
                    f.label,
                    f.recognizer or "—",
                    num(f.score),
                    ", ".join(f.context) or "—",
                    f"{f.start}–{f.end}" if f.start is not None else "—",
                )
                for f in s.findings
            ),
        )


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _policies(report: Report) -> Iterator[Block]:
    if not report.policies:
        yield Paragraph("No policy took a decision in the window.")
        return
    yield Table(
        ("policy", "version", "sha256", "decisions", "first used", "last used"),
        tuple(
            (p.name, p.version, p.sha256, num(p.decisions), f"{p.first:%Y-%m-%d %H:%M}", f"{p.last:%Y-%m-%d %H:%M}")
            for p in report.policies
        ),
    )


def _chain(report: Report) -> Iterator[Block]:
    c = report.chain
    yield Paragraph(("Intact: " if c.ok else "TAMPERED: ") + c.message, "ok" if c.ok else "fail")
    yield Paragraph(
        f"Decision chain head: seq {c.head_seq if c.head_seq is not None else '—'}, hash {c.head_hash or '—'}"
    )
    if c.chains:
        yield Table(
            ("chain", "records checked", "first seq", "last seq", "status"),
            tuple(
                (
                    str(x["chain"]),
                    num(x["checked"]),
                    num(x["first_seq"]),
                    num(x["last_seq"]),
                    "ok" if x["ok"] else f"{x['problem']} at {x['seq']}",
                )
                for x in c.chains
            ),
        )


def _compliance(report: Report) -> Iterator[Block]:
    yield Paragraph(
        "Where this report evidences each requirement. The export bundle's manifest (SHA-256 of every file, the chain "
        "head hash, generation time, tool version) lets an auditor confirm with `ombud report verify DIR` that "
        "nothing was changed after export."
    )
    yield Table(
        ("framework", "clause", "requirement", "evidence in this report", "status"),
        tuple(
            (
                i.requirement.framework,
                i.requirement.clause,
                i.requirement.requirement,
                ", ".join(i.requirement.sections) + f" — {i.note}",
                i.status,
            )
            for i in report.compliance
        ),
    )
