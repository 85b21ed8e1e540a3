"""ombud's Streamlit dashboard for compliance officers and auditors (``ombud dashboard``); reads through ``audit``."""
