"""Altair charts of the dashboard's aggregates (one colour per guard action everywhere)."""

from __future__ import annotations

import altair as alt
import pandas as pd

ACTION_COLOURS = {"allow": "#4c9f70", "flag": "#e0a100", "redact": "#4a7fc1", "block": "#c8414b"}
_ACTION_SCALE = alt.Scale(domain=list(ACTION_COLOURS), range=list(ACTION_COLOURS.values()))


def decisions_over_time(by_day: pd.DataFrame) -> alt.Chart:
    """Stacked bars of decisions per day, coloured by action."""
    return (
        alt.Chart(by_day)
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(day):T", title="day"),
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
            y=alt.Y("target:N", title=None),
            x=alt.X("sum(decisions):Q", title="decisions"),
            color=alt.Color("action:N", scale=_ACTION_SCALE),
            tooltip=["application", "model", "action", "decisions"],
        )
    )
