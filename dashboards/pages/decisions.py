"""Decisions: the audit log as a paged, filterable table, and one decision in detail with reviewer feedback."""

from __future__ import annotations

import streamlit as st

from dashboards import auth, data, ui

url = data.current_url()
user = ui.current_user()
st.title("Decisions")
if user is not None and not ui.first_run(url):
    scope = ui.decision_filters(url, ui.scope_bar(url))
    st.caption(f"{data.count(url, scope):,} matching decisions, newest first")
    page = data.decision_page(url, scope, ui.page_cursor(scope))
    st.dataframe(page.rows, hide_index=True, column_order=data.TABLE_COLUMNS)
    ui.pager(page.next_before)

    st.header("Decision detail")
    labels = page.labels()
    chosen = st.selectbox("Decision on this page", list(labels), format_func=labels.__getitem__, key="d_open")
    typed = st.text_input("…or a decision id", key="d_id", placeholder="32 hex characters")
    wanted = typed.strip() or chosen
    record = data.decision(url, wanted) if wanted else None
    if record is None and wanted:
        st.warning("No decision with that id.")
    elif record is None:
        st.caption("No decision matches these filters.")
    else:
        meta = st.columns(5)
        meta[0].metric("Action", record.action.value)
        meta[1].metric("Stage", record.stage.value)
        meta[2].metric("Application", record.context.application or "-")
        meta[3].metric("Policy", f"{record.policy.name}@{record.policy.version}")
        meta[4].metric("Latency", f"{record.latency_ms:.1f} ms")
        st.caption(f"id `{record.id}` · {record.timestamp:%Y-%m-%d %H:%M:%S} UTC · model {record.context.model or '-'}"
                   f" · policy sha256 `{record.policy.sha256[:16]}` · record hash `{record.hash[:16]}`")  # fmt: skip
        st.markdown("**Redacted text** (as stored; the raw text never leaves the guard)")
        st.markdown(f"<div class='ombud-text'>{data.highlighted(record.safe_text)}</div>", unsafe_allow_html=True)
        scores, findings, rules, explanation, feedback = st.tabs(
            ["Scores vs thresholds", "Findings", "Rules fired", "Explanation", "Reviewer feedback"]
        )
        with scores:
            st.dataframe(data.scores_table(url, record), hide_index=True)
        with findings:
            st.caption("Offsets are character positions in the original text; values are never stored.")
            st.dataframe(data.findings_table(record), hide_index=True)
        with rules:
            st.dataframe(data.rules_table(record), hide_index=True)
        with explanation:
            ui.explanation(url, record)
        with feedback:
            for item in record.feedback:
                st.markdown(f"- **{item.label}** by {item.reviewer} at {item.timestamp:%Y-%m-%d %H:%M} {item.note}")
            if not record.feedback:
                st.caption("No reviewer feedback yet.")
            if auth.read_only():
                st.caption("This dashboard reads the audit log read-only: feedback cannot be recorded here.")
            elif user.role.can_review:
                with st.form("feedback", clear_on_submit=True):
                    label = st.radio("Verdict", data.FEEDBACK_LABELS, horizontal=True, key="fb_label")
                    note = st.text_input("Note (optional; do not paste personal data)", key="fb_note")
                    if st.form_submit_button("Record feedback"):
                        data.add_feedback(url, record.id, label=label, reviewer=user.name, note=note)
                        st.toast("Feedback recorded in the audit chain.")
                        st.rerun()
            else:
                st.caption("Only auditors can record feedback.")
