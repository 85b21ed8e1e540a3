"""The report's charts as PNG bytes (matplotlib, headless), embedded by the HTML and PDF exports."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.explain import Drivers
    from audit.fairness import FairnessReport
    from audit.reports.activity import Activity

ACTION_COLOURS = {"allow": "#9bbf85", "flag": "#f2c14e", "redact": "#5b8fd9", "block": "#d95b5b"}


def _figure(width: float = 7.0, height: float = 2.8) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def actions_by_day(activity: Activity) -> bytes:
    """Stacked bars: decisions per day by action."""
    days = sorted({d for d, _, _ in activity.by_day})
    per: dict[str, dict[Any, int]] = defaultdict(dict)
    for d, action, n in activity.by_day:
        per[action][d] = n
    fig = _figure()
    ax = fig.subplots()
    bottom = [0] * len(days)
    labels = [d.isoformat() for d in days]
    for action in ("allow", "flag", "redact", "block"):
        values = [per[action].get(d, 0) for d in days]
        ax.bar(labels, values, bottom=bottom, label=action, color=ACTION_COLOURS[action])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("decisions")
    ax.set_title("Decisions per day by action", fontsize=10)
    ax.legend(fontsize=7, ncols=4, loc="upper left")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    return _png(fig)


def detections_by_day(activity: Activity) -> bytes:
    """Lines: decisions per day with each of the top detections."""
    series: dict[str, dict[Any, int]] = defaultdict(dict)
    for d, key, n in activity.detections_by_day:
        series[key][d] = n
    days = sorted({d for d, _, _ in activity.detections_by_day})
    fig = _figure()
    ax = fig.subplots()
    for key, values in sorted(series.items()):
        ax.plot([d.isoformat() for d in days], [values.get(d, 0) for d in days], marker="o", label=key)
    ax.set_ylabel("decisions")
    ax.set_title("Top detections per day", fontsize=10)
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    return _png(fig)


def group_rates(report: FairnessReport, metric: str) -> bytes:
    """Horizontal bars: ``metric`` per group with its 95% bootstrap interval; groups below the minimum size are
    hatched; the dashed line is the policy's parity ratio times the highest sufficient group."""
    frame = report.by_group
    groups = [str(g) for g in frame.index]
    values = [float(v) if v == v else 0.0 for v in frame[metric]]
    lo = [max(v - float(x), 0.0) if x == x else 0.0 for v, x in zip(values, frame[f"{metric}_lo"], strict=True)]
    hi = [max(float(x) - v, 0.0) if x == x else 0.0 for v, x in zip(values, frame[f"{metric}_hi"], strict=True)]
    fig = _figure(7.0, 0.45 * len(groups) + 1.2)
    ax = fig.subplots()
    colours = ["#5b8fd9" if ok else "#cccccc" for ok in frame["sufficient"]]
    bars = ax.barh(groups, values, xerr=[lo, hi], color=colours, capsize=3)
    for bar, ok in zip(bars, frame["sufficient"], strict=True):
        if not ok:
            bar.set_hatch("//")
    sufficient = [v for v, ok in zip(values, frame["sufficient"], strict=True) if ok]
    if sufficient and max(sufficient) > 0:
        ax.axvline(max(sufficient) * report.thresholds.demographic_parity_ratio_min, color="#d95b5b", ls="--", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel(metric.replace("_", " "))
    ax.set_title(f"{report.subject}: {metric.replace('_', ' ')} by {report.feature}", fontsize=10)
    ax.tick_params(labelsize=8)
    return _png(fig)


def drivers(d: Drivers) -> bytes:
    """Horizontal bars: how many explained decisions each driving token appears in."""
    tokens = list(d.tokens)[:15]
    fig = _figure(7.0, 0.35 * len(tokens) + 1.2)
    ax = fig.subplots()
    ax.barh([t.token for t in tokens], [t.count for t in tokens], color="#d95b5b")
    ax.invert_yaxis()
    ax.set_xlabel(f"explained decisions (of {d.explained})")
    ax.set_title(f"Tokens driving {d.scanner}", fontsize=10)
    ax.tick_params(labelsize=8)
    return _png(fig)
