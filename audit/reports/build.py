"""``build_report``: gather every section of an audit report from the store (aggregates in SQL)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import yaml

from audit import query
from audit.config import safe_url
from audit.explain import DecisionExplanation, Drivers, Scorer, explain_decision, global_drivers
from audit.explain.scanners import CLASSIFIER_TYPES, scanner_type
from audit.fairness import FairnessReport, Thresholds, fairness_reports_for
from audit.fairness.collect import discover
from audit.fairness.report import SUBJECT_PREFIX
from audit.reports.activity import PolicyInForce, summarise
from audit.reports.compliance import assess
from audit.reports.integrity import start_chain_check
from audit.reports.model import Report

if TYPE_CHECKING:
    from audit.store import AuditStore

log = logging.getLogger(__name__)
INTERVENED = ("flag", "redact", "block")


def tool_version() -> str:
    """The installed ombud version."""
    try:
        return version("ombud")
    except PackageNotFoundError:
        return "0+unknown"


def build_report(
    store: AuditStore,
    since: datetime | None = None,
    until: datetime | None = None,
    policy: str | None = None,
    *,
    by: Sequence[str] | None = None,
    outcomes: Sequence[str] | None = None,
    n_boot: int = 200,
    examples: int = 3,
    drivers_sample: int = 20,
    max_evals: int = 200,
    verify: bool = True,
    progress: bool = False,
    scorers: Mapping[str, Scorer] | None = None,
) -> Report:
    """The audit report of the decisions in [since, until) (of policy ``policy`` when given).

    ``by``: fairness features (default: every subject attribute and identity category); ``outcomes``: model outcome
    keys to assess (default: every boolean outcome key logged). ``examples`` decisions are explained and
    ``drivers_sample`` decisions per classifier scanner feed its global drivers. ``verify`` walks the hash chains
    (in the background, while the rest is built: see ``start_chain_check``). ``progress`` shows progress bars on
    stderr. ``scorers`` overrides classifier models by scanner id (see ``explain_decision``).
    """
    checked = start_chain_check(store, verify=verify)  # hashes the chains while the rest is built
    filters = query.Filters(start=since, end=until, policy=policy)
    steps = ["activity", "policies", "fairness", "explanations", "chain"]
    bar = _bar(len(steps), progress)
    bar.set_description("activity")
    act, in_force, fired = summarise(store, filters)
    bar.update()
    bar.set_description("policies")
    document = _policy_document(in_force, policy)
    thresholds = Thresholds.from_policy(document)
    bar.update()
    guard: list[FairnessReport] = []
    model: list[FairnessReport] = []
    bar.set_description("fairness")
    if act.total:
        with store.engine.connect() as conn:
            found = discover(conn, filters)
        features = list(by) if by is not None else [SUBJECT_PREFIX + a for a in found.attributes]
        makers: dict[str | None, Sequence[str] | None] = {None: by}
        makers |= {outcome: features for outcome in (outcomes if outcomes is not None else found.outcomes)}
        rows = _row_bar(progress, act.total)
        reports = fairness_reports_for(
            store, makers, filters=filters, thresholds=thresholds, n_boot=n_boot, progress=rows
        )
        guard = reports.pop(None)
        model = [r for outcome_reports in reports.values() for r in outcome_reports]
    bar.update()
    bar.set_description("explanations")
    explained, drivers = _explanations(store, filters, fired, examples, drivers_sample, max_evals, scorers)
    bar.update()
    bar.set_description("chain")
    chain = checked()
    bar.update()
    bar.close()
    assessed = [f for r in (*guard, *model) for f in r.findings if f.status != "insufficient"]
    retention = ((document or {}).get("audit") or {}).get("retention_days")
    compliance = assess(
        decisions=act.total,
        chain=chain,
        retention_days=float(retention) if retention is not None else None,
        fairness_failed=sum(f.status == "fail" for f in assessed),
        fairness_assessed=len(assessed),
    )
    return Report(
        since=since,
        until=until,
        policy=policy,
        generated_at=datetime.now(UTC),
        tool_version=tool_version(),
        database=safe_url(store.url),
        activity=act,
        thresholds=thresholds,
        fairness=tuple(guard),
        model_fairness=tuple(model),
        explanations=tuple(explained),
        drivers=tuple(drivers),
        policies=tuple(in_force),
        chain=chain,
        compliance=compliance,
    )


def _bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit="step", leave=False)


def _row_bar(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="identity groups", unit=" texts", leave=False, mininterval=0.5).update


def _policy_document(in_force: Sequence[PolicyInForce], name: str | None) -> Mapping[str, Any] | None:
    """The parsed document of the named policy's latest version in the window (else of the most used one)."""
    chosen = [p for p in in_force if name is None or p.name == name]
    if name is not None:
        chosen.sort(key=lambda p: p.last, reverse=True)
    if not chosen or not chosen[0].document:
        return None
    try:
        parsed = yaml.safe_load(chosen[0].document)
    except yaml.YAMLError:
        log.warning("cannot parse the stored document of policy %s", chosen[0].sha256)
        return None
    return parsed if isinstance(parsed, Mapping) else None


def _explanations(
    store: AuditStore,
    filters: query.Filters,
    fired: Mapping[str, set[str]],
    examples: int,
    drivers_sample: int,
    max_evals: int,
    scorers: Mapping[str, Scorer] | None,
) -> tuple[list[DecisionExplanation], list[Drivers]]:
    """Example explanations (the most recent intervened decision of each scanner that fired, up to ``examples``)
    and the global drivers of every classifier scanner that fired (``fired``: scanners per policy version)."""
    classifiers = {
        s
        for sha, scanners in fired.items()
        for s in scanners
        if (scorers and s in scorers) or scanner_type(store, sha, s) in CLASSIFIER_TYPES
    }
    chosen: list[tuple[str, str]] = []
    if examples:
        recent = query.Filters(start=filters.start, end=filters.end, policy=filters.policy, action=INTERVENED)
        records = [r for r in store.decisions(recent, limit=200).items if r.rules]
        seen: set[str] = set()
        for record in records:  # first the latest decision of each scanner that fired, then the latest others
            scanner = next((r.scanner for r in record.rules if r.scanner not in seen), None)
            if scanner is not None:
                seen.add(scanner)
                chosen.append((record.id, scanner))
        taken = {decision_id for decision_id, _ in chosen}
        chosen += [(r.id, r.rules[0].scanner) for r in records if r.id not in taken]
    picked = [
        explain_decision(store, decision_id, scanner=scanner, max_evals=max_evals, scorers=scorers)
        for decision_id, scanner in chosen[:examples]
    ]
    drivers = [
        global_drivers(
            store, s, filters.start, filters.end, sample=drivers_sample, max_evals=max_evals, scorers=scorers
        )
        for s in sorted(classifiers)
    ]
    return picked, drivers
