"""Resolve a reconciliation exception with a note: it leaves the open list and stays in the history."""

import admin
import pandas as pd
import streamlit as st

from actions.reconciliation import describe_resolution, open_exceptions, resolve

st.title("Resolve reconciliation exceptions")
user = admin.signed_in_admin()
actions = admin.services()

try:
    exceptions = open_exceptions(actions.engine)
except Exception as exc:  # before the first refresh the mart does not exist
    st.info(f"No reconciliation mart yet ({str(exc).splitlines()[0]}); run `payops refresh`.")
    st.stop()
st.caption(f"Open exceptions: {len(exceptions)}")
if not exceptions:
    st.stop()
st.dataframe(pd.DataFrame(exceptions), hide_index=True)
labels = [f"{e['kind']} · {e['purchase_transaction_id'] or '—'} · {e['charge_id'] or '—'}" for e in exceptions]
picked = st.selectbox("Exception", range(len(exceptions)), index=None, format_func=labels.__getitem__,
                      key="resolve_exception")
note = st.text_area("How is it explained?", key="resolve_note")
if picked is None:
    st.stop()
chosen = exceptions[picked]
subject = (chosen["kind"], chosen["purchase_transaction_id"], chosen["charge_id"])
admin.confirmation("resolve", lambda: describe_resolution(*subject, note),
                   lambda key: resolve(actions, user.email, *subject, note, key))
