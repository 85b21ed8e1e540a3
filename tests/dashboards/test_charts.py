"""The Overview's day axis: the chosen range, at least a week wide, so that a day of decisions is one narrow bar."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from dashboards.charts import day_domain


def test_day_axis_spans_the_range_and_at_least_a_week() -> None:
    one_day = pd.to_datetime(pd.Series(["2026-11-30", "2026-11-30"]))
    assert day_domain(one_day) == ["2026-11-24T00:00:00", "2026-12-01T00:00:00"]
    month_ago = datetime(2026, 10, 31, 15, tzinfo=UTC)
    assert day_domain(one_day, month_ago) == ["2026-10-31T00:00:00", "2026-12-01T00:00:00"]
    months = pd.to_datetime(pd.Series(["2026-01-01", "2026-03-01"]))
    assert day_domain(months) == ["2026-01-01T00:00:00", "2026-03-02T00:00:00"]
