"""payops dashboard: `streamlit run streamlit_app/app.py`. Routes to the pages and frames them with the sidebar."""

import data
import streamlit as st

from payops.settings import SettingsError

st.set_page_config(page_title="payops", page_icon=":material/payments:", layout="wide")

# A new page is one file in views/ and one line here. (Not `pages/`: Streamlit would take that folder for
# its older multipage mechanism when a first visit is a direct link to a page.)
PAGES = {
    "Payments": [
        st.Page("views/overview.py", title="Overview", icon=":material/monitoring:", default=True),
        st.Page("views/failures.py", title="Failures", icon=":material/credit_card_off:"),
        st.Page("views/disputes.py", title="Disputes", icon=":material/gavel:"),
    ],
    "Operations": [
        st.Page("views/webhooks.py", title="Webhooks", icon=":material/webhook:"),
        st.Page("views/reconciliation.py", title="Reconciliation", icon=":material/rule:"),
        st.Page("views/notifications.py", title="Notifications", icon=":material/notifications:"),
        st.Page("views/payouts.py", title="Payouts", icon=":material/account_balance:"),
        st.Page("views/reports.py", title="Reports", icon=":material/description:"),
    ],
    "Admin": [
        st.Page("views/admin_refund.py", title="Refund", icon=":material/undo:"),
        st.Page("views/admin_disputes.py", title="Dispute response", icon=":material/balance:"),
        st.Page("views/admin_fraud.py", title="Fraud alerts", icon=":material/report:"),
        st.Page("views/admin_retries.py", title="Payment retries", icon=":material/replay:"),
        st.Page("views/admin_reconciliation.py", title="Resolve exceptions", icon=":material/task_alt:"),
        st.Page("views/audit_log.py", title="Audit log", icon=":material/history:"),
    ],
}

page = st.navigation(PAGES)

try:
    settings = data.current_settings()
except SettingsError as exc:
    st.error(str(exc))
    st.stop()

with st.sidebar:
    st.caption("Warehouse")
    st.code(data.warehouse_label(settings), language=None, wrap_lines=True)
    st.caption("Reporting time zone")
    st.markdown(f"**{settings.timezone}**")

page.run()
