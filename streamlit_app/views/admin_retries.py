"""Payment retries: confirm a failed payment intent again with one of the customer's stored cards."""

import admin
import pandas as pd
import streamlit as st

from actions.retries import (
    MAX_ATTEMPTS,
    describe_retry,
    failed_intents,
    intent_facts,
    retry_payment,
    stored_payment_methods,
)

st.title("Payment retries")
user = admin.signed_in_admin()
admin.totp_box(user)
actions = admin.services()

intents = failed_intents(actions.engine)
st.caption(f"Failed payments (requires_payment_method) with a customer: {len(intents)}. At most {MAX_ATTEMPTS} "
           "retries per payment.")
if not intents:
    st.stop()
st.dataframe(pd.DataFrame(intents), hide_index=True)
intent_id = st.selectbox("Payment intent", [i["id"] for i in intents], index=None, key="retry_intent")
if intent_id is None:
    st.stop()
customer = next(i["customer"] for i in intents if i["id"] == intent_id)
methods = stored_payment_methods(actions, customer)
method = st.selectbox("Stored card", [m.id for m in methods], key="retry_method", format_func=lambda pm: next(
    f"{m.card.brand} ·· {m.card.last4} exp {m.card.exp_month}/{m.card.exp_year}" for m in methods if m.id == pm))


def describe() -> str:
    with actions.engine.connect() as conn:
        return describe_retry(intent_facts(conn, intent_id), method)


admin.confirmation("retry", describe, lambda key: retry_payment(actions, user.email, intent_id, method, key))
