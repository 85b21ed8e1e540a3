"""``FairnessReport``: fairlearn's MetricFrame over weighted cells, with bootstrap intervals, disparities, findings."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from audit.fairness.rates import FALSE_POSITIVE_RATE, TRUE_POSITIVE_RATE, Rate

if TYPE_CHECKING:
    import pandas as pd
    from fairlearn.metrics import MetricFrame

Status = Literal["pass", "fail", "insufficient"]
Interval = tuple[float, float] | None
CI_QUANTILES = (2.5, 97.5)
"""Percentiles of the bootstrap distribution reported as a 95% confidence interval."""
NO_GROUPS = "fewer than two groups with at least {n} decisions"
NO_TRUTH = "fewer than two groups with at least {n} decisions of known ground truth"


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """The policy's fairness thresholds (``fairness:`` of the policy document)."""

    min_group_size: int = 30
    demographic_parity_ratio_min: float = 0.8
    equalized_odds_difference_max: float = 0.1

    @classmethod
    def from_policy(cls, document: Mapping[str, Any] | None) -> Thresholds:
        """The thresholds of a parsed policy document (defaults where absent)."""
        settings = (document or {}).get("fairness") or {}
        return cls(
            **{
                k: settings[k]
                for k in ("min_group_size", "demographic_parity_ratio_min", "equalized_odds_difference_max")
                if k in settings
            }
        )


@dataclass(frozen=True, slots=True)
class Disparity:
    """The between-group spread of one metric (over groups of sufficient size), with bootstrap intervals."""

    metric: str
    difference: float | None
    ratio: float | None
    difference_ci: Interval = None
    ratio_ci: Interval = None


@dataclass(frozen=True, slots=True)
class FairnessFinding:
    """A metric held to a policy threshold: ``pass``, ``fail``, or ``insufficient`` data to tell."""

    feature: str
    subject: str
    check: str
    metric: str
    value: float | None
    threshold: float
    status: Status
    message: str
    ci: Interval = None


@dataclass(frozen=True)
class FairnessReport:
    """Fairness of one decision maker (the guard, or a model outcome) across the groups of one feature.

    Like fairlearn's ``MetricFrame`` (which computes ``by_group`` and ``overall``): ``by_group`` holds, per group, the
    decisions ``n``, those with known ground truth ``n_labelled``, whether the group is ``sufficient`` (at least
    ``min_group_size`` decisions; smaller groups are shown, never hidden, and left out of disparities), each rate, and
    its bootstrap interval (``<rate>_lo`` / ``<rate>_hi``).
    """

    feature: str
    subject: str
    rates: tuple[str, ...]
    by_group: pd.DataFrame
    overall: Mapping[str, float | None]
    disparities: Mapping[str, Disparity]
    equalized_odds: Disparity | None
    findings: tuple[FairnessFinding, ...]
    thresholds: Thresholds
    n_boot: int
    missing: int = 0
    metric_frame: MetricFrame | None = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        """Decisions covered (a decision mentioning several groups counts once per group)."""
        return int(self.by_group["n"].sum()) if len(self.by_group) else 0

    @property
    def insufficient_groups(self) -> tuple[str, ...]:
        """Groups below the minimum size."""
        return tuple(str(g) for g in self.by_group.index[~self.by_group["sufficient"]]) if len(self.by_group) else ()

    @property
    def passed(self) -> bool | None:
        """False when a finding fails, True when all assessed findings pass, None when nothing could be assessed."""
        statuses = {f.status for f in self.findings}
        return False if "fail" in statuses else True if "pass" in statuses else None

    def difference(self, metric: str) -> float | None:
        """Largest minus smallest group value of ``metric`` (fairlearn ``between_groups``)."""
        return self.disparities[metric].difference

    def ratio(self, metric: str) -> float | None:
        """Smallest over largest group value of ``metric`` (fairlearn ``between_groups``)."""
        return self.disparities[metric].ratio

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        groups = [{"group": str(g), **{k: _clean(v) for k, v in row.items()}} for g, row in self.by_group.iterrows()]
        return {
            "feature": self.feature,
            "subject": self.subject,
            "rates": list(self.rates),
            "n": self.n,
            "missing": self.missing,
            "n_boot": self.n_boot,
            "thresholds": {
                "min_group_size": self.thresholds.min_group_size,
                "demographic_parity_ratio_min": self.thresholds.demographic_parity_ratio_min,
                "equalized_odds_difference_max": self.thresholds.equalized_odds_difference_max,
            },
            "overall": {k: _clean(v) for k, v in self.overall.items()},
            "groups": groups,
            "insufficient_groups": list(self.insufficient_groups),
            "disparities": [_disparity(d) for d in self.disparities.values()],
            "equalized_odds_difference": _disparity(self.equalized_odds) if self.equalized_odds else None,
            "findings": [_finding(f) for f in self.findings],
        }


def _clean(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _disparity(d: Disparity) -> dict[str, Any]:
    return {
        "metric": d.metric,
        "difference": d.difference,
        "ratio": d.ratio,
        "difference_ci": list(d.difference_ci) if d.difference_ci else None,
        "ratio_ci": list(d.ratio_ci) if d.ratio_ci else None,
    }


def _finding(f: FairnessFinding) -> dict[str, Any]:
    return {
        "feature": f.feature,
        "subject": f.subject,
        "check": f.check,
        "metric": f.metric,
        "value": f.value,
        "threshold": f.threshold,
        "status": f.status,
        "message": f.message,
        "ci": list(f.ci) if f.ci else None,
    }


def compute(
    cells: pd.DataFrame,
    *,
    feature: str,
    subject: str,
    rates: Sequence[Rate],
    parity: Sequence[str],
    thresholds: Thresholds,
    n_boot: int = 500,
    seed: int = 0,
    missing: int = 0,
) -> FairnessReport:
    """Build the report from ``cells`` (columns ``group``, ``y_true``, ``y_pred``, ``weight``: counts of rows)."""
    import pandas as pd
    from fairlearn.metrics import MetricFrame

    cells = cells[cells["weight"] > 0]
    names = [r.name for r in rates]
    frame: MetricFrame | None = None
    if len(cells):
        weights = cells["weight"].to_numpy(dtype=float)
        frame = MetricFrame(
            metrics={r.name: r for r in rates},
            y_true=cells["y_true"].to_numpy(),
            y_pred=cells["y_pred"].to_numpy(),
            sensitive_features=cells["group"].astype(str).rename(feature),
            sample_params={r.name: {"sample_weight": weights} for r in rates},
        )
        point = frame.by_group
        overall = {k: _clean(float(v)) for k, v in frame.overall.items()}
    else:
        point = pd.DataFrame(columns=names, dtype=float)
        overall = dict.fromkeys(names)
    rng = np.random.default_rng(seed)
    rows, boots = [], {}
    for group, part in cells.groupby(cells["group"].astype(str), sort=True):
        yt, yp = part["y_true"].to_numpy(np.int64), part["y_pred"].to_numpy(np.int64)
        w = part["weight"].to_numpy(dtype=np.int64)
        n, n_labelled = int(w.sum()), int(w[yt >= 0].sum())
        draws = rng.multinomial(n, w / n, size=n_boot).astype(float) if n_boot else np.zeros((0, len(w)))
        row: dict[str, Any] = {"n": n, "n_labelled": n_labelled, "sufficient": n >= thresholds.min_group_size}
        for rate in rates:
            num, den = rate.masks(yt, yp)
            with np.errstate(invalid="ignore", divide="ignore"):
                sample = (draws @ num) / (draws @ den)
            boots[(group, rate.name)] = sample
            row[rate.name] = float(point.loc[group, rate.name])
            row[f"{rate.name}_lo"], row[f"{rate.name}_hi"] = _interval(sample) or (float("nan"), float("nan"))
        rows.append((group, row))
    by_group = pd.DataFrame([r for _, r in rows], index=pd.Index([g for g, _ in rows], name=feature))
    if not len(by_group):
        by_group = pd.DataFrame(columns=["n", "n_labelled", "sufficient"], index=pd.Index([], name=feature))
    sufficient = [g for g, r in rows if r["sufficient"]]
    labelled = [g for g, r in rows if r["n_labelled"] >= thresholds.min_group_size]
    disparities = {r.name: _spread(r.name, by_group, labelled if r.needs_truth else sufficient, boots) for r in rates}
    eo = (
        _equalized_odds(by_group, labelled, boots)
        if {"true_positive_rate", "false_positive_rate"} <= set(names)
        else None
    )
    undefined = _undefined_odds(by_group, labelled) if eo is not None else []
    findings = _findings(
        feature, subject, parity, disparities, eo, thresholds, len(sufficient), len(labelled), undefined
    )
    return FairnessReport(
        feature=feature,
        subject=subject,
        rates=tuple(names),
        by_group=by_group,
        overall=overall,
        disparities=disparities,
        equalized_odds=eo,
        findings=findings,
        thresholds=thresholds,
        n_boot=n_boot,
        missing=missing,
        metric_frame=frame,
    )


def _interval(sample: np.ndarray) -> tuple[float, float] | None:
    finite = sample[np.isfinite(sample)]
    if not len(finite):
        return None
    lo, hi = np.percentile(finite, CI_QUANTILES)
    return float(lo), float(hi)


def _spread(metric: str, by_group: pd.DataFrame, groups: list[str], boots: Mapping[Any, np.ndarray]) -> Disparity:
    values = [v for v in (by_group.loc[g, metric] for g in groups) if np.isfinite(v)] if groups else []
    if len(values) < 2:
        return Disparity(metric, None, None)
    hi, lo = max(values), min(values)
    stacked = np.vstack([boots[(g, metric)] for g in groups])
    with np.errstate(invalid="ignore", divide="ignore"), _quiet():
        b_hi, b_lo = np.nanmax(stacked, axis=0), np.nanmin(stacked, axis=0)
        b_ratio = np.where(b_hi > 0, b_lo / b_hi, np.nan)
    return Disparity(
        metric,
        float(hi - lo),
        float(lo / hi) if hi > 0 else None,
        _interval(b_hi - b_lo) if len(stacked[0]) else None,
        _interval(b_ratio) if len(stacked[0]) else None,
    )


def _equalized_odds(by_group: pd.DataFrame, groups: list[str], boots: Mapping[Any, np.ndarray]) -> Disparity | None:
    tpr = _spread(TRUE_POSITIVE_RATE.name, by_group, groups, boots)
    fpr = _spread(FALSE_POSITIVE_RATE.name, by_group, groups, boots)
    parts = [d.difference for d in (tpr, fpr) if d.difference is not None]
    if not parts:
        return None
    sample = None
    if groups and len(boots[(groups[0], TRUE_POSITIVE_RATE.name)]):
        diffs = []
        for name in (TRUE_POSITIVE_RATE.name, FALSE_POSITIVE_RATE.name):
            stacked = np.vstack([boots[(g, name)] for g in groups])
            with np.errstate(invalid="ignore"), _quiet():
                diffs.append(np.nanmax(stacked, axis=0) - np.nanmin(stacked, axis=0))
        with _quiet():
            sample = _interval(np.nanmax(np.vstack(diffs), axis=0))
    return Disparity("equalized_odds_difference", float(max(parts)), None, sample, None)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's all-NaN-slice warnings (a bootstrap draw may leave a group without positives)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _undefined_odds(by_group: pd.DataFrame, groups: list[str]) -> list[str]:
    """The groups whose true or false positive rate is undefined (no positive, or no negative, ground truth): left
    out of the equalized-odds difference, where fairlearn's own ``true_positive_rate`` would count them as 0."""
    rates = (TRUE_POSITIVE_RATE.name, FALSE_POSITIVE_RATE.name)
    return [g for g in groups if any(math.isnan(by_group.loc[g, r]) for r in rates)]


def _findings(
    feature: str,
    subject: str,
    parity: Sequence[str],
    disparities: Mapping[str, Disparity],
    eo: Disparity | None,
    t: Thresholds,
    n_sufficient: int,
    n_labelled: int,
    eo_undefined: Sequence[str] = (),
) -> tuple[FairnessFinding, ...]:
    out = []
    for metric in parity:
        d = disparities[metric]
        if n_sufficient < 2:
            status: Status = "insufficient"
            message = NO_GROUPS.format(n=t.min_group_size)
        elif d.ratio is None:
            status, message = "pass", f"{metric} is 0 in every group"
        else:
            status = "pass" if d.ratio >= t.demographic_parity_ratio_min else "fail"
            message = (
                f"{metric} ratio {d.ratio:.3f} {'≥' if status == 'pass' else '<'} {t.demographic_parity_ratio_min}"
            )
        check = "demographic_parity_ratio"
        out.append(
            FairnessFinding(
                feature, subject, check, metric, d.ratio, t.demographic_parity_ratio_min, status, message, d.ratio_ci
            )
        )
    if eo is None or n_labelled < 2:
        status, value, ci = "insufficient", None, None
        message = NO_TRUTH.format(n=t.min_group_size)
    else:
        value, ci = eo.difference, eo.difference_ci
        status = "pass" if (value or 0.0) <= t.equalized_odds_difference_max else "fail"
        message = f"equalized odds difference {value:.3f} {'≤' if status == 'pass' else '>'} "
        message += f"{t.equalized_odds_difference_max}"
        if eo_undefined:
            message += f" (a rate is undefined for {', '.join(eo_undefined)}: no positive or no negative ground truth)"
    out.append(
        FairnessFinding(
            feature,
            subject,
            "equalized_odds_difference",
            "equalized_odds_difference",
            value,
            t.equalized_odds_difference_max,
            status,
            message,
            ci,
        )
    )
    return tuple(out)
