"""Integrity and reports: hash-chain verification (first broken record, if any) and the report bundle download."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

url = data.current_url()
user = ui.current_user()
st.title("Integrity & reports")
summary = data.summary(url)
cols = st.columns(4)
cols[0].metric("Decisions", f"{summary.decisions:,}")
cols[1].metric("Reviewer feedback", f"{summary.feedback:,}")
cols[2].metric("Policy versions", f"{summary.policies:,}")
cols[3].metric("Last decision", f"{summary.last:%d %b %H:%M}" if summary.last else "-")

st.header("Hash-chain verification")
st.caption("Every record carries the hash of the one before it; verification recomputes the whole chain.")
if st.button("Verify the audit chain now", key="verify", type="primary"):
    with st.spinner("Verifying every record…"):
        st.session_state["ombud_verification"] = data.verification(url)
result: data.Verification | None = st.session_state.get("ombud_verification")
if result is not None:
    if result.report.ok:
        st.success(f"All chains intact (checked {result.checked_at:%Y-%m-%d %H:%M:%S} UTC).")
    else:
        bad = result.report.first_problem
        st.error(f"Tampering detected: {bad.message}" if bad else "Tampering detected.")
    st.dataframe(result.table(), hide_index=True)

st.header("Report bundle")
if user is not None and not user.role.can_export:
    st.caption("Only auditors can generate and download reports.")
elif not ui.first_run(url):
    scope = ui.scope_bar(url)
    start = f"{scope.start:%Y-%m-%d %H:%M}" if scope.start else "the first decision"
    st.caption(f"Period: from {start} to now (time range in the sidebar) · policy {scope.policy or 'all'}")
    formats = st.multiselect("Formats", data.REPORT_FORMATS, default=list(data.REPORT_FORMATS), key="r_formats")
    request = (scope, tuple(formats))
    if st.button("Generate the report bundle", key="r_build", disabled=not formats):
        with st.spinner("Building the report (activity, fairness, explanations, chain verification)…"):
            st.session_state["ombud_report"] = (request, data.report_bundle(url, scope, tuple(formats)))
    built, bundle = st.session_state.get("ombud_report", (None, b""))
    if built == request:
        st.download_button(
            "Download the report bundle (.zip)",
            bundle,
            file_name="ombud-report.zip",
            mime="application/zip",
            key="r_download",
            type="primary",
        )
        st.caption("The bundle's manifest.json holds a SHA-256 per file: `ombud report verify DIR` checks it.")
