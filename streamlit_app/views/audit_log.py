"""The audit log: every admin action, its outcome and the Stripe events it caused; filterable, exportable, with
the chain's verification status."""

from datetime import UTC, datetime, timedelta

import admin
import pandas as pd
import streamlit as st

from actions.audit import ACTION_TYPES, action_log, trail, verify_chain

st.title("Audit log")
user = admin.signed_in_admin()
actions = admin.services()

report = verify_chain(actions.engine)
if report.intact:
    st.success(f"Chain intact: {report.rows} rows, head hash `{report.head_hash[:16]}…`")
else:
    st.error("Chain BROKEN:\n\n" + "\n\n".join(p.message for p in report.problems))

days = st.slider("Days", 1, 365, 30, key="audit_days")
types = st.multiselect("Actions", ACTION_TYPES, key="audit_types")
who = st.text_input("Admin (email)", key="audit_admin").strip().lower() or None
rows = action_log(actions.engine, datetime.now(UTC) - timedelta(days=days), who, tuple(types))
table = pd.DataFrame(rows)
if table.empty:
    st.info("No actions in this range.")
    st.stop()
table.insert(0, "trail", [trail(row) for row in rows])
st.dataframe(table, hide_index=True, column_order=["seq", "requested_at", "admin_email", "trail", "target_id",
                                                   "reason", "status", "params", "idempotency_key"])
st.download_button("Export CSV", table.to_csv(index=False).encode(), "payops-audit-log.csv", "text/csv")
