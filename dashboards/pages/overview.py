"""Overview: decisions over time by action, action rates, top detections, latency, per application and model."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, ui

url = data.current_url()
st.title("Overview")
if not ui.first_run(url):
    scope = ui.scope_bar(url)
    activity = data.activity(url, scope)
    if not activity.total:
        st.info("No decisions in this time range and filter; widen the time range in the sidebar.")
    else:
        cols = st.columns(6)
        cols[0].metric("Decisions", f"{activity.total:,}")
        for col, action in zip(cols[1:4], ("block", "redact", "flag"), strict=True):
            col.metric(f"{action.title()} rate", f"{activity.rates[action]:.1%}")
        st.subheader("Decisions per day by action")
        st.altair_chart(charts.decisions_over_time(activity.by_day, scope.start), width="stretch")
        latency = data.latency(url, scope)
        cols[4].metric("Latency p50", f"{latency.get('p50', 0):.1f} ms")
        cols[5].metric("Latency p99", f"{latency.get('p99', 0):.1f} ms")
        left, right = st.columns(2)
        with left:
            st.subheader("Top detections")
            detections = data.detections(url, scope)
            if detections.empty:
                st.caption("No findings in this range.")
            else:
                st.altair_chart(charts.top_detections(detections), width="stretch")
        with right:
            st.subheader("Per application and model")
            st.altair_chart(charts.by_application(data.by_application(url, scope)), width="stretch")
