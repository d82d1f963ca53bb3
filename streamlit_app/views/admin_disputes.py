"""Respond to a dispute: the evidence form with uploads, the due-date countdown, submit or accept."""

import admin
import data
import streamlit as st

from actions.disputes import (
    EVIDENCE_FILE_FIELDS,
    EVIDENCE_TEXT_FIELDS,
    accept_dispute,
    current_draft,
    describe_acceptance,
    describe_submission,
    dispute_facts,
    due_warning,
    save_draft,
    submit_evidence,
    upload_evidence_file,
)
from actions.money import format_money
from actions.service import new_idempotency_key
from payops.errors import PayopsError

LONG_FIELDS = {"product_description", "access_activity_log", "refund_refusal_explanation", "cancellation_rebuttal",
               "duplicate_charge_explanation", "uncategorized_text", "refund_policy_disclosure",
               "cancellation_policy_disclosure"}

st.title("Dispute response")
user = admin.signed_in_admin()
admin.totp_box(user)
actions = admin.services()

try:
    open_ids = list(data.open_disputes(data.current_settings(), True)["dispute_id"]) + list(
        data.open_disputes(data.current_settings(), False)["dispute_id"])
except Exception:  # before the first refresh: type an id
    open_ids = []
default = st.query_params.get("dispute")  # from a dispute's row elsewhere, or a link
if default and default not in open_ids:
    open_ids.insert(0, default)
dispute_id = st.selectbox("Dispute", open_ids, index=open_ids.index(default) if default in open_ids else None,
                          accept_new_options=True, key="dispute_id", placeholder="du_…")
if not dispute_id:
    st.stop()
try:
    with actions.engine.connect() as conn:
        facts = dispute_facts(conn, dispute_id)
        draft = current_draft(conn, dispute_id)
except PayopsError as exc:
    st.error(str(exc))
    st.stop()

st.markdown(f"**{facts.dispute_id}** on {facts.charge_id} · {format_money(facts.amount, facts.currency)} · "
            f"{facts.reason} · {facts.status} · submissions so far: {draft.submission_count}")
if facts.due_by is not None:
    warning = due_warning(facts.due_by)
    (st.error if warning and warning.startswith("past") else st.warning if warning else st.info)(
        f"Evidence due by {facts.due_by:%Y-%m-%d %H:%M} UTC" + (f": {warning}" if warning else ""))

with st.form("evidence"):
    evidence = {field: (st.text_area if field in LONG_FIELDS else st.text_input)(
        field.replace("_", " ").capitalize(), value=draft.evidence.get(field, ""), key=f"evidence_{field}")
        for field in EVIDENCE_TEXT_FIELDS}
    uploads = {field: st.file_uploader(field.replace("_", " ").capitalize()
                                       + (f" (saved: {draft.files[field]['filename']})" if field in draft.files
                                          else ""), key=f"file_{field}")
               for field in EVIDENCE_FILE_FIELDS[:4]}
    if st.form_submit_button("Save draft"):
        try:
            files = dict(draft.files)
            for field, upload in uploads.items():
                if upload is not None:
                    files[field] = upload_evidence_file(actions, user.email, upload.name, upload.getvalue())
            saved = save_draft(actions, user.email, facts.dispute_id, evidence, files, new_idempotency_key())
            st.success("Draft saved") if saved.succeeded else st.error(saved.error)
        except PayopsError as exc:
            st.error(str(exc))

st.subheader("Submit the saved draft to Stripe")
admin.confirmation("dispute_submit", lambda: describe_submission(facts, draft),
                   lambda key: submit_evidence(actions, user.email, facts.dispute_id, key))
st.subheader("Or accept the dispute")
accept_reason = st.text_input("Why accept?", key="dispute_accept_reason")
admin.confirmation("dispute_accept", lambda: describe_acceptance(facts),
                   lambda key: accept_dispute(actions, user.email, facts.dispute_id, accept_reason, key))
