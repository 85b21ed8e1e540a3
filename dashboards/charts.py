"""Altair charts of the dashboard's aggregates (one colour per guard action everywhere)."""

from __future__ import annotations

from datetime import datetime

import altair as alt
import pandas as pd

ACTION_COLOURS = {"allow": "#4c9f70", "flag": "#e0a100", "redact": "#4a7fc1", "block": "#c8414b"}
_ACTION_SCALE = alt.Scale(domain=list(ACTION_COLOURS), range=list(ACTION_COLOURS.values()))


MIN_DAYS = 7
"""The day axis spans at least this many days, so that one or two days of decisions draw as narrow bars."""


def day_domain(days: pd.Series, start: datetime | None = None) -> list[str]:
    """The day axis of ``days`` (non-empty): from ``start`` (or the first day) to the end of the last day,
    widened back to ``MIN_DAYS`` days; naive UTC, as the days themselves."""
    last = pd.Timestamp(days.max()).normalize()
    first = pd.Timestamp(days.min()) if start is None else pd.Timestamp(start)
    if first.tzinfo is not None:
        first = first.tz_convert("UTC").tz_localize(None)
    first = min(first.normalize(), last - pd.Timedelta(days=MIN_DAYS - 1))
    return [first.isoformat(), (last + pd.Timedelta(days=1)).isoformat()]


def decisions_over_time(by_day: pd.DataFrame, start: datetime | None = None) -> alt.Chart:
    """Stacked bars of decisions per day (``by_day`` non-empty), coloured by action, from ``start`` on."""
    return (
        alt.Chart(by_day)
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(day):T", title="day", scale=alt.Scale(domain=day_domain(by_day["day"], start))),
            y=alt.Y("sum(decisions):Q", title="decisions"),
            color=alt.Color("action:N", scale=_ACTION_SCALE),
            tooltip=["yearmonthdate(day):T", "action:N", "sum(decisions):Q"],
        )
    )


def top_detections(detections: pd.DataFrame, *, top: int = 15) -> alt.Chart:
    """Horizontal bars of the most frequent finding types (decisions with at least one), by scanner."""
    head = detections.head(top)
    return (
        alt.Chart(head)
        .mark_bar()
        .encode(
            y=alt.Y("label:N", sort="-x", title=None),
            x=alt.X("decisions:Q"),
            color=alt.Color("scanner:N"),
            tooltip=["scanner", "label", "decisions"],
        )
    )


def by_application(by_app: pd.DataFrame) -> alt.Chart:
    """Stacked bars of decisions per application and model, coloured by action."""
    frame = by_app.assign(target=by_app["application"] + " · " + by_app["model"])
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("target:N", title=None, axis=alt.Axis(labelLimit=300)),
            x=alt.X("sum(decisions):Q", title="decisions"),
            color=alt.Color("action:N", scale=_ACTION_SCALE),
            tooltip=["application", "model", "action", "decisions"],
        )
    )


def group_rates(rates: pd.DataFrame, *, metric: str, overall: float | None) -> alt.LayerChart:
    """One bar per group with its 95% bootstrap interval; groups too small to compare are drawn faded."""
    title = f"{metric.replace('_', ' ')} (95% interval; dashed: overall)"
    base = alt.Chart(rates, height=alt.Step(28)).encode(y=alt.Y("group:N", title=None))
    bars = base.mark_bar().encode(
        x=alt.X("rate:Q", title=title, scale=alt.Scale(domain=[0, 1])),
        opacity=alt.condition("datum.sufficient", alt.value(1.0), alt.value(0.35)),
        tooltip=["group", "decisions", "sufficient", alt.Tooltip("rate:Q", format=".3f"), "low", "high"],
    )
    errors = base.mark_errorbar(ticks=True, color="black").encode(x=alt.X("low:Q", title=title), x2="high:Q")
    layers: list[alt.Chart] = [bars, errors]
    if overall is not None:
        rule = alt.Chart(pd.DataFrame({"overall": [overall]})).mark_rule(strokeDash=[4, 4])
        layers.append(rule.encode(x="overall:Q"))
    return alt.LayerChart(layer=layers)


def shap_values(tokens: pd.DataFrame) -> alt.Chart:
    """SHAP value per token in text order (red pushes the score up, blue down)."""
    return (
        alt.Chart(tokens)
        .mark_bar()
        .encode(
            x=alt.X("position:O", title=None, axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("shap value:Q"),
            color=alt.condition("datum['shap value'] > 0", alt.value("#c8414b"), alt.value("#4a7fc1")),
            tooltip=["token", alt.Tooltip("shap value:Q", format=".4f")],
        )
    )


def drivers(table: pd.DataFrame) -> alt.Chart:
    """Horizontal bars of the driver tokens by how many explained decisions they led."""
    return (
        alt.Chart(table)
        .mark_bar()
        .encode(
            y=alt.Y("token:N", sort="-x", title=None),
            x=alt.X("decisions:Q"),
            tooltip=["token", "decisions", "mean shap value"],
        )
    )
