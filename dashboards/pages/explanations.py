"""Explanations: the global drivers of each scanner's scores over a time window."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, ui

url = data.current_url()
st.title("Explanations")
if not ui.first_run(url):
    scope = ui.scope_bar(url)
    detections = data.detections(url, scope)
    scanners = sorted(set(detections["scanner"]))
    if not scanners:
        st.info("No scanner found anything in this time range; widen the time range in the sidebar.")
    else:
        scanner = st.selectbox("Scanner", scanners, key="x_scanner")
        st.subheader(f"What {scanner} detects")
        st.altair_chart(charts.top_detections(detections[detections["scanner"] == scanner]), width="stretch")
        st.subheader("Global drivers (SHAP)")
        sample = st.slider("Recent interventions to explain", 5, 100, 20, key="x_sample")
        if st.toggle("Compute the drivers", key="x_drivers"):
            with st.spinner("Explaining recent decisions…"):
                result = data.drivers(url, scanner, scope.start, scope.end, sample)
            st.caption(f"{result.explained} of {result.decisions:,} interventions explained with SHAP")
            if result.tokens:
                st.altair_chart(charts.drivers(data.drivers_table(result)), width="stretch")
                st.dataframe(data.drivers_table(result), hide_index=True)
            else:
                st.info(
                    f"{scanner} is a pattern scanner: SHAP applies to classifier scanners. Its decisions are "
                    "explained by the finding types above and, per decision, on the Decisions page."
                )
        else:
            st.caption("SHAP explains the most recent interventions of this scanner on their redacted text.")
