"""Refund a charge, fully or partly: from a charge's detail view (?charge=ch_…) or by id."""

import admin
import streamlit as st

from actions.money import format_money
from actions.refunds import REFUND_REASONS, RefundForm, charge_facts, check_refund, describe_refund, refund
from payops.errors import PayopsError

st.title("Refund")
user = admin.signed_in_admin()
admin.totp_box(user)
actions = admin.services()

charge_id = st.text_input("Charge", value=st.query_params.get("charge", ""), placeholder="ch_…", key="refund_charge")
if not charge_id.strip():
    st.info("Enter a charge id, or open this page from a charge (…/admin_refund?charge=ch_…).")
    st.stop()
try:
    with actions.engine.connect() as conn:
        facts = charge_facts(conn, charge_id.strip())
except PayopsError as exc:
    st.error(str(exc))
    st.stop()

st.markdown(f"**{facts.charge_id}** · {facts.status} · {format_money(facts.amount, facts.currency)} charged · "
            f"{format_money(facts.amount_refunded + facts.pending_own_refunds, facts.currency)} refunded"
            + (" · **disputed**" if facts.disputed else ""))
amount = st.text_input(f"Amount in {facts.currency.upper()} (empty: everything still refundable, "
                       f"{format_money(facts.refundable, facts.currency)})", key="refund_amount")
reason = st.selectbox("Reason", REFUND_REASONS, index=None, key="refund_reason", placeholder="Stripe's reason")


def refund_form(key: str) -> RefundForm:
    whole = format_money(facts.refundable, facts.currency).split(" ", 1)[1].replace(",", "")
    return RefundForm(facts.charge_id, amount.strip() or whole, reason, key)


def describe() -> str:
    form = refund_form(admin.form_key("refund"))
    check_refund(facts, form)
    return describe_refund(facts, form)


admin.confirmation("refund", describe, lambda key: refund(actions, user.email, refund_form(key)))
