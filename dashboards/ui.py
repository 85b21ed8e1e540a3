"""Widgets shared by the pages: sign-in, the signed-in user, the filter bar and the first-run message."""

from __future__ import annotations

import logging
from dataclasses import replace

import streamlit as st

from audit import AuditRecord
from audit.config import safe_url
from dashboards import auth, charts, data

log = logging.getLogger(__name__)

USER_KEY = "ombud_user"
EMPTY = (
    "**No decisions recorded yet.** This dashboard shows what ombud's guards decided. Send traffic through a guard "
    'that audits to this database, for example `Guard.from_policy("default", audit="{url}")` in Python, '
    "`ombud serve --db {url}` for the proxy, or `make demo`; then reload this page."
)


def current_user() -> auth.User | None:
    """The signed-in user: from this session's login, else from a trusted SSO proxy's headers."""
    user: auth.User | None = st.session_state.get(USER_KEY)
    if user is None:
        user = auth.proxy_user(dict(st.context.headers))
        if user is not None:
            st.session_state[USER_KEY] = user
    return user


def login_page() -> None:
    """The sign-in form (the only page shown without a user)."""
    st.title("ombud audit dashboard")
    path = auth.users_file()
    if path is None or not path.exists():
        st.error(auth.NO_USERS)
        return
    with st.form("login"):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        user = auth.authenticate(name, password, path)
        if user is None:
            st.error("Unknown user name or wrong password.")
        else:
            st.session_state[USER_KEY] = user
            st.rerun()


def sidebar_user(user: auth.User) -> None:
    """Who is signed in, with what role, and a sign-out button."""
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role.value})")
        if auth.read_only():
            st.caption("Read-only: nothing is written to the audit log")
        if user.via == "password" and st.button("Sign out", key="sign_out"):
            del st.session_state[USER_KEY]
            st.rerun()


def first_run(url: str) -> bool:
    """Show the first-run help and return True when the store holds no decisions yet."""
    if data.summary(url).decisions:
        return False
    st.info(EMPTY.format(url=safe_url(url)))
    return True


def scope_bar(url: str) -> data.Scope:
    """The sidebar filters every page shares: time range, application, policy."""
    with st.sidebar:
        st.subheader("Filters")
        span = st.selectbox("Time range", list(data.RANGES), index=1, key="f_range")
        application = st.selectbox("Application", ["(all)", *data.choices(url, "application")], key="f_app")
        policy = st.selectbox("Policy", ["(all)", *data.choices(url, "policy")], key="f_policy")
    start, end = data.window(url, span)

    def pick(value: str) -> str | None:
        return None if value == "(all)" else value

    return data.Scope(start=start, end=end, application=pick(application), policy=pick(policy))


def pager(next_before: int | None) -> None:
    """Previous/next buttons over keyset pages; call ``page_cursor`` first to know which page to fetch."""
    state = st.session_state["ombud_pages"]
    left, middle, right = st.columns([1, 2, 1])

    def move(step: int) -> None:
        if step > 0:
            del state["cursors"][state["index"] + 1 :]
            state["cursors"].append(next_before)
        state["index"] += step

    left.button("◀ Newer", disabled=state["index"] == 0, on_click=move, args=(-1,), key="page_prev")
    middle.caption(f"Page {state['index'] + 1}")
    right.button("Older ▶", disabled=next_before is None, on_click=move, args=(1,), key="page_next")


def page_cursor(scope: data.Scope) -> int | None:
    """The ``before_seq`` of the page being shown for ``scope`` (back to the first page when the scope changes)."""
    state = st.session_state.get("ombud_pages")
    if state is None or state["scope"] != scope:
        state = st.session_state["ombud_pages"] = {"scope": scope, "cursors": [None], "index": 0}
    cursor: int | None = state["cursors"][state["index"]]
    return cursor


def decision_filters(url: str, scope: data.Scope) -> data.Scope:
    """The Decisions page's own filters (action, stage, detection) on top of the sidebar scope."""
    detections = data.detection_labels(url, scope)
    options = ["(any)", *(f"{scanner} · {label}" for scanner, label in detections)]
    a, s, d = st.columns(3)
    action = a.selectbox("Action", ["(any)", *data.ACTIONS], key="d_action")
    stage = s.selectbox("Stage", ["(any)", "input", "output"], key="d_stage")
    detection = d.selectbox("Detection", range(len(options)), format_func=options.__getitem__, key="d_detection")
    scanner, label = detections[detection - 1] if detection else (None, None)
    return replace(
        scope,
        action=None if action == "(any)" else action,
        stage=None if stage == "(any)" else stage,
        scanner=scanner,
        label=label,
    )


def explanation(url: str, record: AuditRecord) -> None:
    """The explanation of one decision, on request: SHAP token attributions for classifier scanners, findings else."""
    if not st.toggle("Explain this decision", key="explain"):
        st.caption("Classifier scanners are explained with SHAP on the redacted text (the first one takes a while).")
        return
    with st.spinner("Explaining…"):
        result = data.explanation(url, record.id)
    for scanner in result.scanners:
        rule = scanner.rule or "no rule fired"
        st.markdown(f"**{scanner.scanner}** · {scanner.method} · score {scanner.score:.3f} · {rule}")
        if scanner.error:
            st.warning(scanner.error)
        elif scanner.method == "shap":
            st.altair_chart(charts.shap_values(data.shap_tokens(scanner)), width="stretch")
            st.caption("Top tokens: " + ", ".join(f"`{t.token}` ({t.value:+.3f})" for t in scanner.top()))
        elif scanner.findings:
            st.dataframe(data.explained_findings(scanner), hide_index=True)
        else:
            st.caption("Nothing found.")
