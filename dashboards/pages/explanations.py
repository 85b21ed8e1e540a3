"""Explanations: the global drivers of each scanner's scores over a time window."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

url = data.current_url()
st.title("Explanations")
if not ui.first_run(url):
    scope = ui.scope_bar(url)
    st.info(ui.NOT_AVAILABLE.format(what="Global explanations", module="explain"))
