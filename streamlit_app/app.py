"""payops dashboard, served by server.py (`streamlit run streamlit_app/server.py`). Signs people in, routes to the
pages and frames them with the sidebar: the global filters, how old the data is, the reporting time zone, and the
admins' refresh button."""

import auth
import data
import streamlit as st
import ui

from payops.settings import SettingsError

data.freeze_loaded_objects()
st.set_page_config(page_title="payops", page_icon=":material/payments:", layout="wide")

try:
    settings = data.current_settings()
except SettingsError as exc:
    st.error(str(exc))
    st.stop()

# A new page is one file in views/ and one line here. (Not `pages/`: Streamlit would take that folder for
# its older multipage mechanism when a first visit is a direct link to a page.)
PAGES = {
    "Payments": [
        st.Page("views/overview.py", title="Overview", icon=":material/monitoring:", default=True),
        st.Page("views/revenue.py", title="Revenue", icon=":material/trending_up:"),
        st.Page("views/failures.py", title="Failures", icon=":material/credit_card_off:"),
        st.Page("views/disputes.py", title="Disputes", icon=":material/gavel:"),
        st.Page("views/refunds.py", title="Refunds", icon=":material/undo:"),
    ],
    "Look up": [
        st.Page("views/transactions.py", title="Transactions", icon=":material/search:"),
        st.Page("views/students.py", title="Students", icon=":material/school:"),
    ],
    "Operations": [
        st.Page("views/reconciliation.py", title="Reconciliation", icon=":material/rule:"),
        st.Page("views/fraud.py", title="Fraud signals", icon=":material/shield:"),
        st.Page("views/webhooks.py", title="Webhooks", icon=":material/webhook:"),
        st.Page("views/system_health.py", title="System health", icon=":material/health_and_safety:"),
        st.Page("views/notifications.py", title="Notifications", icon=":material/notifications:"),
        st.Page("views/payouts.py", title="Payouts", icon=":material/account_balance:"),
        st.Page("views/reports.py", title="Reports", icon=":material/description:"),
    ],
}
# Only admins are routed to these: an analyst never sees an admin control (and each page checks again).
ADMIN_PAGES = {
    "Admin": [
        st.Page("views/admin_refund.py", title="Refund", icon=":material/undo:"),
        st.Page("views/admin_disputes.py", title="Dispute response", icon=":material/balance:"),
        st.Page("views/admin_fraud.py", title="Fraud alerts", icon=":material/report:"),
        st.Page("views/admin_retries.py", title="Payment retries", icon=":material/replay:"),
        st.Page("views/admin_reconciliation.py", title="Resolve exceptions", icon=":material/task_alt:"),
        st.Page("views/audit_log.py", title="Audit log", icon=":material/history:"),
    ],
}

with ui.warehouse_errors_explained():
    user = auth.gate(page.url_path for section in (*PAGES.values(), *ADMIN_PAGES.values()) for page in section)

page = st.navigation({**PAGES, **ADMIN_PAGES} if user.is_admin else PAGES)

with ui.warehouse_errors_explained():
    data.forget_cache_after_a_new_build(settings)

with st.sidebar:
    ui.global_filters(settings)
    st.caption(f"Reporting time zone: **{settings.timezone}**")
    ui.freshness_note(settings)
    ui.refresh_button(user)
    st.divider()
    st.caption(f"Signed in as **{user.email}** ({user.role})")
    st.button("Sign out", on_click=st.logout, key="sign-out", icon=":material/logout:")

page.run()
