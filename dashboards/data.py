"""Everything the pages show, read through ``audit``'s public API: one cached store, cached SQL aggregates.

Pages call these functions and only lay the results out. Every query function takes the database URL first, so two
databases never share a cache entry, and a ``Scope`` (a hashable filter) so results are cached per filter.
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import re
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from audit import AuditRecord, AuditStore, Feedback, Filters, PolicyVersion, VerifyReport
from audit.config import database_url, safe_url
from audit.explain import DecisionExplanation, Drivers, ScannerExplanation, explain_decision, global_drivers
from audit.fairness import FairnessReport, Thresholds, fairness_report, load_lexicon
from audit.outcomes import INLINE_TRUTH_KEY
from audit.reports import build_report, export_report
from dashboards import auth
from guards.policy.decide import label_tiers
from guards.policy.loader import parse_policy
from guards.policy.schema import PolicyModel, ScannerSpec
from guards.types import Action

log = logging.getLogger(__name__)

TTL_S = 60
"""How long query results are cached (seconds): a fresh decision shows up within a minute."""
PAGE_SIZE = 50
"""Decisions per page of the log."""
FEEDBACK_LABELS = ("correct", "false_positive", "false_negative")
"""What a reviewer can say about a decision: the action was right, it fired wrongly, or it missed something."""
RANGES: dict[str, timedelta | None] = {
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
    "All time": None,
}
"""Time windows offered by the filter bar, ending at the newest decision."""
ACTIONS = tuple(a.value for a in Action)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """The decisions a page covers (hashable, so it can key the cache); ``None`` means any."""

    start: datetime | None = None
    end: datetime | None = None
    application: str | None = None
    policy: str | None = None
    action: str | None = None
    stage: str | None = None
    scanner: str | None = None
    label: str | None = None

    def filters(self) -> Filters:
        """The ``audit.Filters`` of this scope."""
        return Filters(
            start=self.start,
            end=self.end,
            application=self.application,
            policy=self.policy,
            action=self.action,
            stage=self.stage,
            scanner=self.scanner,
            label=self.label,
        )


def store(url: str) -> AuditStore:
    """The process-wide store for ``url``: created and migrated if new, or opened read-only (``auth.read_only``)."""
    return _store(url, auth.read_only())


@st.cache_resource(show_spinner=False)
def _store(url: str, read_only: bool) -> AuditStore:
    log.info("dashboard opens the audit store %s%s", safe_url(url), " read-only" if read_only else "")
    if read_only:
        return AuditStore(url, read_only=True)
    return AuditStore(url, journal=False)


def current_url() -> str:
    """The database the dashboard shows: ``$OMBUD_DATABASE_URL`` (set by ``ombud dashboard --db``)."""
    return database_url()


# -- overview -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """Size and time span of the whole store."""

    decisions: int
    first: datetime | None
    last: datetime | None
    feedback: int
    policies: int


@st.cache_data(ttl=TTL_S, show_spinner=False)
def summary(url: str) -> Summary:
    """How many decisions the store holds and when the first and last were taken."""
    stats = store(url).stats()

    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return Summary(stats["decisions"], when(stats["first"]), when(stats["last"]), stats["feedback"], stats["policies"])


def window(url: str, label: str) -> tuple[datetime | None, datetime | None]:
    """``(start, end)`` of a named time range ending just after the newest decision (or now)."""
    span = RANGES[label]
    last = summary(url).last or datetime.now(UTC)
    end = last + timedelta(microseconds=1)
    return (None if span is None else end - span), None


@st.cache_data(ttl=TTL_S * 10, show_spinner=False)
def choices(url: str, column: str) -> list[str]:
    """Distinct non-empty values of an indexed ``column`` (``application``, ``policy``) across the store."""
    return sorted(str(k[0]) for k in store(url).counts(column) if k[0])


@dataclass(frozen=True, slots=True)
class Activity:
    """Decisions per day by action in one scope, and the share of each action."""

    total: int
    by_day: pd.DataFrame
    """Columns ``day``, ``action``, ``decisions``."""
    rates: dict[str, float]
    """Share of decisions per action (0-1)."""


def _frame(counts: dict[tuple[Any, ...], int], columns: list[str]) -> pd.DataFrame:
    rows = [(*key, n) for key, n in counts.items()]
    return pd.DataFrame.from_records(rows, columns=[*columns, "decisions"])


# The Overview's sections are cached separately so that the page paints each one as soon as it is ready.


@st.cache_data(ttl=TTL_S, show_spinner=False)
def activity(url: str, scope: Scope) -> Activity:
    """Decisions over time by action and the action rates (one SQL ``GROUP BY``)."""
    by_day = _frame(store(url).counts("day", "action", filters=scope.filters()), ["day", "action"])
    total = int(by_day["decisions"].sum())
    per_action = by_day.groupby("action")["decisions"].sum()
    rates = {a: (float(per_action.get(a, 0)) / total if total else 0.0) for a in ACTIONS}
    by_day["day"] = pd.to_datetime(by_day["day"])
    return Activity(total, by_day, rates)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def latency(url: str, scope: Scope) -> dict[str, float]:
    """``p50``/``p90``/``p99`` of the guard's latency in ms."""
    found = store(url).latency_percentiles(scope.filters(), percentiles=(50, 90, 99))
    return {f"p{int(p)}": v for p, v in found.items()}


@st.cache_data(ttl=TTL_S, show_spinner=False)
def detections(url: str, scope: Scope) -> pd.DataFrame:
    """Columns ``scanner``, ``label``, ``decisions`` (decisions with at least one such finding), most first."""
    found = _frame(store(url).counts("scanner", "label", filters=scope.filters()), ["scanner", "label"])
    return found.sort_values("decisions", ascending=False, ignore_index=True)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def by_application(url: str, scope: Scope) -> pd.DataFrame:
    """Columns ``application``, ``model``, ``action``, ``decisions``."""
    found = store(url).counts("application", "model", "action", filters=scope.filters())
    return _frame(found, ["application", "model", "action"]).fillna({"application": "(none)", "model": "(none)"})


# -- decisions ------------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_S, show_spinner=False)
def count(url: str, scope: Scope) -> int:
    """How many decisions match ``scope``."""
    return store(url).count(scope.filters())


TABLE_COLUMNS = (
    "time", "action", "stage", "application", "model", "findings", "text (redacted)", "latency ms", "policy",
)  # fmt: skip
"""The decision log's visible columns (``seq`` and ``id`` are kept for paging and the detail view)."""


@dataclass(frozen=True, slots=True)
class DecisionPage:
    """One page of the decision log as a table, and the cursor of the next page (None at the end)."""

    rows: pd.DataFrame
    next_before: int | None

    def labels(self) -> dict[str, str]:
        """Decision id → a one-line label (time, action, findings, the id's last 8 digits), in table order."""
        return {
            row.id: f"{row.time:%Y-%m-%d %H:%M:%S} · {row.action} · {row.findings or 'no findings'} · …{row.id[-8:]}"
            for row in self.rows.itertuples()
        }


def _findings_summary(record: AuditRecord) -> str:
    labels: dict[str, int] = {}
    for verdict in record.verdicts:
        for finding in verdict.findings:
            labels[finding.label] = labels.get(finding.label, 0) + 1
    return ", ".join(f"{label}×{n}" if n > 1 else label for label, n in sorted(labels.items()))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def decision_page(url: str, scope: Scope, before_seq: int | None, limit: int = PAGE_SIZE) -> DecisionPage:
    """Up to ``limit`` decisions older than ``before_seq``, newest first (keyset paging, no offset scans)."""
    page = store(url).decisions(scope.filters(), limit=limit, before_seq=before_seq)
    rows = [
        {
            "time": r.timestamp,
            "action": r.action.value,
            "stage": r.stage.value,
            "application": r.context.application,
            "model": r.context.model,
            "findings": _findings_summary(r),
            "text (redacted)": r.safe_text[:160],
            "latency ms": round(r.latency_ms, 1),
            "policy": f"{r.policy.name}@{r.policy.version}",
            "seq": r.seq,
            "id": r.id,
        }
        for r in page.items
    ]
    return DecisionPage(pd.DataFrame(rows, columns=[*TABLE_COLUMNS, "seq", "id"]), page.next_before)


def detection_labels(url: str, scope: Scope) -> list[tuple[str, str]]:
    """``(scanner, label)`` pairs found within ``scope``, for the filter choices."""
    return sorted((str(r.scanner), str(r.label)) for r in detections(url, scope).itertuples())


def decision(url: str, decision_id: str) -> AuditRecord | None:
    """One decision with its reviewer feedback, or None (a key lookup: not cached, so new feedback shows at once)."""
    return store(url).get_decision(decision_id)


_PLACEHOLDER = re.compile(r"&lt;[A-Z][A-Z0-9_]*&gt;|\*{3,}[\s*\-]*[^\s*]{0,4}")


def highlighted(safe_text: str) -> str:
    """The redacted text as HTML, escaped, with each placeholder (``<EMAIL_ADDRESS>``, ``****1111``) marked."""
    import html

    escaped = html.escape(safe_text)
    return _PLACEHOLDER.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped).replace("\n", "<br>")


def findings_table(record: AuditRecord) -> pd.DataFrame:
    """Every finding by scanner, type, score and character offsets in the original text (no values)."""
    rows = [
        {"scanner": v.scanner, "type": f.label, "score": round(f.score, 3), "start": f.start, "end": f.end}
        for v in record.verdicts
        for f in v.findings
    ]
    return pd.DataFrame(rows, columns=["scanner", "type", "score", "start", "end"])


def rules_table(record: AuditRecord) -> pd.DataFrame:
    """The policy rules that fired: scanner, label, score against threshold, action, operator, reason."""
    rows = [
        {
            "scanner": r.scanner,
            "label": r.label,
            "score": round(r.score, 3),
            "threshold": r.threshold,
            "action": r.action.value,
            "operator": r.operator,
            "reason": r.reason,
        }
        for r in record.rules
    ]
    return pd.DataFrame(rows, columns=["scanner", "label", "score", "threshold", "action", "operator", "reason"])


def _tiers_text(tiers: dict[Action, float] | Any) -> str:
    return ", ".join(f"{Action(a).value} ≥ {t:.2f}" for a, t in sorted(tiers.items(), key=lambda i: i[1]))


def _spec_tiers(spec: ScannerSpec) -> dict[Action, float]:
    return dict(spec.thresholds) if spec.thresholds else {spec.action: spec.threshold}


def scores_table(url: str, record: AuditRecord) -> pd.DataFrame:
    """Every scanner's score (and each finding type's best score) against its threshold in the deciding policy."""
    model = policy_model(url, record.policy.sha256)
    specs = {s.id: s for s in model.scanners} if model else {}
    rows: list[dict[str, Any]] = []
    for verdict in record.verdicts:
        spec = specs.get(verdict.scanner)
        best: dict[str, float] = {}
        for finding in verdict.findings:
            best[finding.label] = max(best.get(finding.label, 0.0), finding.score)
        entries = [("(scanner)", verdict.score, _spec_tiers(spec) if spec else None)]
        entries += [(lb, sc, dict(label_tiers(spec, lb)) if spec else None) for lb, sc in sorted(best.items())]
        for label, score, tiers in entries:
            fired = [Action(a).value for a, t in (tiers or {}).items() if score >= t and label != "(scanner)"]
            rows.append(
                {
                    "scanner": verdict.scanner,
                    "label": label,
                    "score": round(score, 3),
                    "thresholds": _tiers_text(tiers) if tiers else "(not in policy)",
                    "fires": ", ".join(fired) or "-",
                    "latency ms": round(verdict.latency_ms, 2),
                    "error": verdict.error or "",
                }
            )
    columns = ["scanner", "label", "score", "thresholds", "fires", "latency ms", "error"]
    return pd.DataFrame(rows, columns=columns)


def add_feedback(url: str, decision_id: str, *, label: str, reviewer: str, note: str) -> Feedback:
    """Record a reviewer's verdict (hash-chained by the store) and refresh the cached store summary."""
    result = store(url).add_feedback(decision_id, label=label, reviewer=reviewer, note=note)
    summary.clear(url)
    log.info("feedback %s on %s by %s", label, decision_id, reviewer)
    return result


# -- policies ---------------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_S, show_spinner=False)
def policies(url: str) -> list[PolicyVersion]:
    """Every policy version the store has seen, newest first."""
    return store(url).list_policies()


def policies_table(versions: list[PolicyVersion]) -> pd.DataFrame:
    """Policy versions with their hash, when each was first and last used, and which one is in force per name."""
    newest: dict[str, datetime] = {}
    for p in versions:
        newest[p.name] = max(newest.get(p.name, p.last_seen), p.last_seen)
    rows = [
        {
            "policy": p.name,
            "version": p.version,
            "sha256": p.sha256[:16],
            "in force": p.last_seen == newest[p.name],
            "first used": p.first_seen,
            "last used": p.last_seen,
        }
        for p in versions
    ]
    return pd.DataFrame(rows, columns=["policy", "version", "sha256", "in force", "first used", "last used"])


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def policy_yaml(document: str) -> str:
    """A stored (canonical JSON) policy document as readable YAML, unset (null) options left out."""
    return yaml.safe_dump(_without_nulls(json.loads(document)), sort_keys=False, allow_unicode=True)


def diff_pair(versions: list[PolicyVersion]) -> tuple[int, int]:
    """Indexes (old, new) to compare first: the newest version and the one before it of the same policy if any."""
    newest = versions[0]
    same = [i for i, p in enumerate(versions) if i and p.name == newest.name]
    return (same[0] if same else 1), 0


@st.cache_data(ttl=TTL_S, show_spinner=False)
def policy_model(url: str, sha256: str) -> PolicyModel | None:
    """The validated policy stored under ``sha256`` (None if the store never saw it)."""
    for version in policies(url):
        if version.sha256 == sha256:
            return parse_policy(version.document, source=f"{version.name}@{version.version}").model
    return None


def policy_diff(old: PolicyVersion, new: PolicyVersion) -> str:
    """A unified diff of two policy versions, line by line in YAML form."""
    return "".join(
        difflib.unified_diff(
            policy_yaml(old.document).splitlines(keepends=True),
            policy_yaml(new.document).splitlines(keepends=True),
            f"{old.name}@{old.version} ({old.sha256[:12]})",
            f"{new.name}@{new.version} ({new.sha256[:12]})",
        )
    )


def thresholds_table(model: PolicyModel) -> pd.DataFrame:
    """Each scanner and label override of a policy with its thresholds per action."""
    rows: list[dict[str, Any]] = []
    for spec in model.scanners:
        entries = [("(default)", _spec_tiers(spec), spec.operator)]
        entries += [(lb, dict(label_tiers(spec, lb)), r.operator or spec.operator) for lb, r in spec.labels.items()]
        for label, tiers, operator in entries:
            rows.append(
                {
                    "scanner": spec.id,
                    "label": label,
                    "thresholds": _tiers_text(tiers),
                    "operator": operator,
                    "stages": ", ".join(s.value for s in spec.stages),
                    "enabled": spec.enabled,
                }
            )
    return pd.DataFrame(rows, columns=["scanner", "label", "thresholds", "operator", "stages", "enabled"])


# -- integrity --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    """A chain verification result and when it ran."""

    report: VerifyReport
    checked_at: datetime

    def table(self) -> pd.DataFrame:
        """One row per chain: records checked, range, and the first problem if any."""
        rows = [
            {
                "chain": c.chain,
                "status": "intact" if c.ok else f"BROKEN ({c.problem})",
                "records checked": c.checked,
                "first seq": c.first_seq,
                "last seq": c.last_seq,
                "first bad seq": c.seq,
                "first bad record": c.record_id,
                "message": c.message,
            }
            for c in self.report.chains
        ]
        return pd.DataFrame(rows)


def verification(url: str) -> Verification:
    """Verify every hash chain of the store now (reads every record: seconds on a million)."""
    return Verification(store(url).verify(), datetime.now(UTC))


# -- fairness ---------------------------------------------------------------------------------------------------

FAIRNESS_BOOTSTRAP = 100
"""Bootstrap resamples behind the page's confidence intervals (the report bundle uses more)."""
SAMPLE = 500
"""Recent decisions sampled to discover subject attributes and outcome keys (cheap, through the paged API)."""


@dataclass(frozen=True, slots=True)
class FairnessChoices:
    """What fairness can be computed on: features (``subject.<attr>``, ``identity.<category>``) and outcome keys."""

    features: tuple[str, ...]
    outcomes: tuple[str, ...]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def fairness_choices(url: str, scope: Scope) -> FairnessChoices:
    """Subject attributes and boolean outcome keys of the newest decisions in ``scope``, and identity categories."""
    attributes: set[str] = set()
    outcomes: set[str] = set()
    for record in store(url).decisions(scope.filters(), limit=SAMPLE).items:
        attributes.update(record.subject)
        outcomes.update(k for k, v in record.outcome.items() if isinstance(v, bool) and k != INLINE_TRUTH_KEY)
    features = [f"subject.{a}" for a in sorted(attributes)] + [f"identity.{c}" for c in load_lexicon().categories]
    return FairnessChoices(tuple(features), tuple(sorted(outcomes)))


def feature_label(feature: str) -> str:
    """``subject.gender`` → ``subject attribute: gender``; ``identity.religion`` → ``identity mentioned: religion``."""
    kind, _, name = feature.partition(".")
    return f"{'subject attribute' if kind == 'subject' else 'identity mentioned in text'}: {name}"


def fairness_thresholds(url: str, policy: str | None) -> Thresholds:
    """The fairness thresholds of the newest version of ``policy`` (or of the newest policy) in the store."""
    versions = [p for p in policies(url) if policy is None or p.name == policy]
    newest = max(versions, key=lambda p: p.last_seen, default=None)
    return Thresholds.from_policy(json.loads(newest.document) if newest else None)


@st.cache_data(ttl=TTL_S * 5, show_spinner=False)
def fairness(url: str, scope: Scope, feature: str, outcome: str | None) -> FairnessReport:
    """The fairness report of the guard (``outcome`` None) or a model outcome across ``feature``."""
    return fairness_report(
        store(url),
        by=feature,
        outcome=outcome,
        filters=scope.filters(),
        thresholds=fairness_thresholds(url, scope.policy),
        n_boot=FAIRNESS_BOOTSTRAP,
    )


def fairness_findings(report: FairnessReport) -> pd.DataFrame:
    """A report's findings: check, metric, value, threshold, 95% interval, pass/fail/insufficient, message."""
    rows = [
        {
            "status": f.status,
            "check": f.check,
            "metric": f.metric,
            "value": None if f.value is None else round(f.value, 3),
            "threshold": f.threshold,
            "95% interval": f"{f.ci[0]:.3f} - {f.ci[1]:.3f}" if f.ci else "",
            "message": f.message,
        }
        for f in report.findings
    ]
    return pd.DataFrame(rows, columns=["status", "check", "metric", "value", "threshold", "95% interval", "message"])


def group_rates(report: FairnessReport, metric: str) -> pd.DataFrame:
    """Per group: decisions, whether the group is large enough, ``metric`` and its bootstrap interval."""
    frame = report.by_group
    return pd.DataFrame(
        {
            "group": [str(g) for g in frame.index],
            "decisions": frame["n"].to_numpy(),
            "sufficient": frame["sufficient"].to_numpy(),
            "rate": frame[metric].to_numpy(dtype=float),
            "low": frame[f"{metric}_lo"].to_numpy(dtype=float),
            "high": frame[f"{metric}_hi"].to_numpy(dtype=float),
        }
    )


# -- explanations -----------------------------------------------------------------------------------------------


@st.cache_data(ttl=None, show_spinner=False, max_entries=1000)
def explanation(url: str, decision_id: str) -> DecisionExplanation:
    """The explanation of one decision (SHAP for classifier scanners; cached)."""
    return explain_decision(store(url), decision_id)


def shap_tokens(scanner: ScannerExplanation) -> pd.DataFrame:
    """A scanner explanation's tokens in text order with their SHAP values."""
    rows = [{"position": i, "token": t.token, "shap value": t.value} for i, t in enumerate(scanner.tokens)]
    return pd.DataFrame(rows, columns=["position", "token", "shap value"])


def explained_findings(scanner: ScannerExplanation) -> pd.DataFrame:
    """A scanner explanation's findings: type, score, recogniser, the context words it used, offsets."""
    rows = [
        {
            "type": f.label,
            "score": round(f.score, 3),
            "recognizer": f.recognizer,
            "context words": ", ".join(f.context),
            "start": f.start,
            "end": f.end,
        }
        for f in scanner.findings
    ]
    return pd.DataFrame(rows, columns=["type", "score", "recognizer", "context words", "start", "end"])


@st.cache_data(ttl=TTL_S * 10, show_spinner=False)
def drivers(url: str, scanner: str, start: datetime | None, end: datetime | None, sample: int) -> Drivers:
    """``audit.explain.global_drivers``: tokens that most often drive ``scanner``'s interventions in the window."""
    return global_drivers(store(url), scanner, start, end, sample=sample)


def drivers_table(result: Drivers) -> pd.DataFrame:
    """Driver tokens with how many explained decisions they led and their mean SHAP value there."""
    rows = [{"token": d.token, "decisions": d.count, "mean shap value": round(d.mean_value, 4)} for d in result.tokens]
    return pd.DataFrame(rows, columns=["token", "decisions", "mean shap value"])


# -- reports ----------------------------------------------------------------------------------------------------

REPORT_FORMATS = ("html", "pdf", "json", "csv")


def report_bundle(url: str, scope: Scope, formats: tuple[str, ...]) -> bytes:
    """Build the audit report of ``scope``'s window and policy, export it, and return the bundle as a zip archive."""

    report = build_report(store(url), scope.start, scope.end, scope.policy, n_boot=200)
    with tempfile.TemporaryDirectory(prefix="ombud-report-") as tmp:
        export_report(report, tmp, formats)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    archive.write(path, Path("ombud-report") / path.relative_to(tmp))
    log.info("report bundle built: %s, %d bytes", report.title, buffer.tell())
    return buffer.getvalue()
