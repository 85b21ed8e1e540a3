"""Dashboard entry point: ``streamlit run dashboards/app.py`` (or ``ombud dashboard``); no sign-in, no data."""

from __future__ import annotations

import streamlit as st

from dashboards import ui

st.set_page_config(page_title="ombud audit", page_icon=":material/shield:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("pages/decisions.py", title="Decisions", icon=":material/list_alt:"),
    st.Page("pages/fairness.py", title="Fairness", icon=":material/balance:"),
    st.Page("pages/explanations.py", title="Explanations", icon=":material/insights:"),
    st.Page("pages/policies.py", title="Policies", icon=":material/policy:"),
    st.Page("pages/integrity.py", title="Integrity & reports", icon=":material/verified:"),
]

user = ui.current_user()
if user is None:
    st.navigation([st.Page(ui.login_page, title="Sign in", icon=":material/login:")]).run()
else:
    navigation = st.navigation(PAGES)
    ui.sidebar_user(user)
    navigation.run()
