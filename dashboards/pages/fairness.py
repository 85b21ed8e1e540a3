"""Fairness: group metrics by subject attribute or identity group, disparities, pass/fail against the policy."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

url = data.current_url()
st.title("Fairness")
if not ui.first_run(url):
    scope = ui.scope_bar(url)
    st.info(ui.NOT_AVAILABLE.format(what="The fairness report", module="fairness"))
