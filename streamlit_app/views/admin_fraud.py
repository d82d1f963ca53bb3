"""The fraud alert queue: subjects fraud_signals scores at or above the threshold, to confirm or dismiss."""

import admin
import pandas as pd
import streamlit as st

from actions.fraud import ALERT_THRESHOLD, decide, describe_decision, open_alerts, raise_alerts

st.title("Fraud alerts")
user = admin.signed_in_admin()
actions = admin.services()

try:
    raised = raise_alerts(actions.writer, actions.engine)
except Exception as exc:  # the mart may not be built yet; the queue still shows what was raised
    st.caption(f"New alerts could not be raised: {str(exc).splitlines()[0]}")
    raised = 0
if raised:
    st.toast(f"{raised} new alert(s) with a risk score of {ALERT_THRESHOLD} or more")

alerts = open_alerts(actions.engine)
st.caption(f"Open alerts, highest risk first: {len(alerts)}. Each subject is alerted once; decisions stay in the "
           "history.")
if alerts:
    st.dataframe(pd.DataFrame(alerts), hide_index=True)

st.subheader("Decide")
choices = [f"{a['entity_type']} {a['entity_id']}" for a in alerts]
subject = st.selectbox("Alert", choices, index=None, key="fraud_subject", accept_new_options=True,
                       placeholder="pick an alert, or type 'charge ch_…' / 'customer cus_…'")
decision = st.radio("Decision", ["confirmed_fraud", "dismissed"], horizontal=True, key="fraud_decision",
                    format_func=lambda d: {"confirmed_fraud": "Flag: confirmed fraud", "dismissed": "Clear"}[d])
note = st.text_area("Note", key="fraud_note")


def parsed() -> tuple[str, str]:
    entity_type, _, entity_id = (subject or "").partition(" ")
    if not entity_id:
        raise ValueError("Pick an alert, or type 'charge ch_…' or 'customer cus_…'.")
    return entity_type, entity_id.strip()


admin.confirmation("fraud", lambda: describe_decision(*parsed(), decision, note),
                   lambda key: decide(actions, user.email, *parsed(), decision, note, key))
