"""Fairness: group metrics by subject attribute or identity group, disparities, pass/fail against the policy."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, ui

url = data.current_url()
st.title("Fairness")
if not ui.first_run(url):
    scope = ui.scope_bar(url)
    choices = data.fairness_choices(url, scope)
    left, right = st.columns(2)
    feature = left.selectbox("Group decisions by", choices.features, format_func=data.feature_label, key="fair_by")
    outcome = right.selectbox(
        "Decisions of",
        [None, *choices.outcomes],
        format_func=lambda o: "the guard (its actions)" if o is None else f"the model (outcome `{o}`)",
        key="fair_outcome",
    )
    with st.spinner("Computing group metrics and bootstrap intervals…"):
        report = data.fairness(url, scope, feature, outcome)
    t = report.thresholds
    st.caption(
        f"{report.n:,} decisions · policy thresholds: demographic parity ratio ≥ {t.demographic_parity_ratio_min}, "
        f"equalized odds difference ≤ {t.equalized_odds_difference_max}, groups of at least {t.min_group_size}"
    )
    if report.passed is False:
        st.error("At least one fairness check fails the policy thresholds.")
    elif report.passed:
        st.success("Every fairness check that could be assessed passes.")
    else:
        st.warning("Not enough data to assess any fairness check.")
    if report.insufficient_groups:
        st.warning(
            f"Too few decisions to compare (under {t.min_group_size}): {', '.join(report.insufficient_groups)}. "
            "They are shown faded and left out of the disparities."
        )
    st.subheader("Checks")
    st.dataframe(data.fairness_findings(report), hide_index=True)
    if len(report.by_group):
        st.subheader("Rates by group")
        metric = st.selectbox("Metric", report.rates, key="fair_metric")
        overall = report.overall.get(metric)
        st.altair_chart(charts.group_rates(data.group_rates(report, metric), metric=metric, overall=overall),
                        width="stretch")  # fmt: skip
        st.dataframe(report.by_group, width="stretch")
