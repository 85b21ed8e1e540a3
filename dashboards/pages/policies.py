"""Policies: every version in the audit log with its hash and when it was used, its thresholds, and a diff."""

from __future__ import annotations

import streamlit as st

from dashboards import data

url = data.current_url()
st.title("Policies")
versions = data.policies(url)
if not versions:
    st.info("No policy has been recorded yet: the store records each policy version the first time a guard uses it.")
else:
    st.dataframe(data.policies_table(versions), hide_index=True)
    labels = [f"{p.name}@{p.version} · {p.sha256[:12]} · first used {p.first_seen:%Y-%m-%d %H:%M}" for p in versions]
    chosen = st.selectbox("Policy version", range(len(versions)), format_func=labels.__getitem__, key="p_version")
    version = versions[chosen]
    model = data.policy_model(url, version.sha256)
    thresholds, document = st.tabs(["Thresholds", "Document"])
    with thresholds:
        if model is not None:
            st.dataframe(data.thresholds_table(model), hide_index=True)
    with document:
        st.code(data.policy_yaml(version.document), language="yaml")
    st.subheader("Compare two versions")
    if len(versions) < 2:
        st.caption("Only one policy version has been used so far.")
    else:
        left, right = st.columns(2)
        first_old, first_new = data.diff_pair(versions)
        old = left.selectbox("Old", range(len(versions)), first_old, format_func=labels.__getitem__, key="p_old")
        new = right.selectbox("New", range(len(versions)), first_new, format_func=labels.__getitem__, key="p_new")
        diff = data.policy_diff(versions[old], versions[new])
        st.code(diff or "The two versions are identical.", language="diff")
