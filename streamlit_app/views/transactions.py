"""Transactions: find charges by id, email, student, amount, status, currency and days (filtered and paged in
Postgres, so a million charges never reach the browser), download them as CSV, and open one in detail."""

from decimal import Decimal, InvalidOperation

import auth
import data
import downloads
import pandas as pd
import streamlit as st
import ui

PAGE_SIZE = 50

settings = data.current_settings()
filters = ui.current_filters()
st.title("Transactions")


def amount_or_none(text: str, label: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        st.warning(f"{label} {text!r} is not an amount; it is ignored.")
        return None


def show_detail(charge_id: str) -> None:
    with ui.warehouse_errors_explained():
        detail = data.charge_detail(settings, charge_id)
        exponents = data.currency_exponents(settings)
    charge = detail["charge"]
    if charge.empty:
        st.info(f"No charge {charge_id!r} in the warehouse.")
        return
    row = charge.iloc[0]
    exponent = exponents.get(row["currency"], ui.FALLBACK_EXPONENT)
    with st.container(border=True, key="charge-detail"):
        st.subheader(f"Charge {charge_id}")
        ui.kpi_row([
            ui.Kpi("Amount", ui.format_money(row["amount_minor"], row["currency"], exponent)),
            ui.Kpi("Status", str(row["status"])),
            ui.Kpi("Refunded", ui.format_money(row["amount_refunded_minor"], row["currency"], exponent)),
            ui.Kpi("Disputed", "yes" if row["disputed"] else "no"),
            ui.Kpi("Created", ui.in_timezone(row["created_at"], settings.timezone)),
        ])
        st.caption(
            f"Customer {row['customer_id'] or 'none'} · payment intent {row['payment_intent_id'] or 'none'} · "
            f"student {row['student_name'] or row['student_id'] or 'unknown'} · card {row['card_brand'] or '?'} "
            f"({row['card_country'] or '?'}) · failure {row['failure_code'] or 'none'} · "
            f"risk {row['risk_level'] or 'n/a'}"
        )
        sections = {
            "events": ("Event timeline", "No event about this charge is stored."),
            "refunds": ("Refunds", "Not refunded."),
            "disputes": ("Disputes", "Never disputed."),
            "fraud": ("Fraud signals", "No fraud rule fired for this charge or its customer."),
            "reconciliation": ("Reconciliation", "The platform's purchase and Stripe agree about this charge."),
        }
        for name, (title, empty) in sections.items():
            st.markdown(f"**{title}**")
            frame = detail[name]
            if frame.empty:
                st.caption(empty)
            else:
                for column in frame.columns:  # every time in the reporting time zone
                    if column.endswith("_at") or column == "evidence_due_by":
                        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(settings.timezone)
                st.dataframe(frame, hide_index=True, key=f"detail-{name}")


charge_param = st.query_params.get("charge")
if charge_param:
    show_detail(charge_param)
    if st.button("Back to the search", key="back-to-search"):
        del st.query_params["charge"]
        st.rerun()
    st.stop()

with st.container(horizontal=True):
    text = st.text_input("Search", key="search-text", placeholder="ch_…, pi_…, cus_…, an email or a student's name",
                         help="Ids match exactly; emails and names match in part.")
    status = st.selectbox("Status", ["any", *data.CHARGE_STATUSES], key="search-status")
    min_amount = st.text_input("Amount from", key="search-min", placeholder="0.00")
    max_amount = st.text_input("Amount to", key="search-max", placeholder="no limit")

search = data.TransactionSearch(
    livemode=filters.livemode,
    first_day=filters.first_day,
    last_day=filters.last_day,
    currency=filters.currency,
    text=text,
    status=None if status == "any" else status,
    min_amount=amount_or_none(min_amount, "Amount from"),
    max_amount=amount_or_none(max_amount, "Amount to"),
)
with ui.warehouse_errors_explained():
    matching = data.count_transactions(settings, search)
capped = matching > data.COUNT_CAP
matching_label = f"more than {data.COUNT_CAP:,}" if capped else f"{matching:,}"
pages = max(1, -(-min(matching, data.COUNT_CAP) // PAGE_SIZE))
page = st.number_input("Page", min_value=1, max_value=pages, value=1, key="search-page") - 1
with ui.warehouse_errors_explained():
    found = data.search_transactions(settings, search, page, PAGE_SIZE)

currencies = "every currency" if filters.currency is None else filters.currency.upper()
st.caption(
    f"{matching_label} {filters.mode}-mode charge(s) in {currencies}, created {filters.first_day:%d %b %Y} to "
    f"{filters.last_day:%d %b %Y} ({settings.timezone}); page {page + 1} of {pages}, newest first. Select a row to "
    "open it."
)
if found.empty:
    st.info(f"No {filters.mode}-mode charge matches between {filters.first_day} and {filters.last_day}.")
    st.stop()

found["created_at"] = pd.to_datetime(found["created_at"], utc=True).dt.tz_convert(settings.timezone)
with ui.warehouse_errors_explained():
    exponents = data.currency_exponents(settings)
found["amount"] = [
    ui.format_money(minor, code, exponents.get(code, ui.FALLBACK_EXPONENT))
    for minor, code in zip(found["amount_minor"], found["currency"], strict=True)
]
selection = st.dataframe(
    found,
    hide_index=True,
    key="search-results",
    on_select="rerun",
    selection_mode="single-row",
    column_order=["created_at", "charge_id", "status", "amount", "student_name", "family_email",
                  "customer_id", "payment_intent_id", "failure_code", "disputed"],
    column_config={
        "created_at": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
        "charge_id": "Charge", "status": "Status", "amount": "Amount", "student_name": "Student",
        "family_email": "Family email",
        "customer_id": "Customer", "payment_intent_id": "Payment intent", "failure_code": "Failure",
        "disputed": st.column_config.CheckboxColumn("Disputed"),
    },
)
st.link_button(
    f"Download all {matching_label} as CSV",
    downloads.transactions_csv_link(
        auth.current_user(), search, f"payops-charges-{filters.mode}-{filters.first_day}-{filters.last_day}.csv"),
    icon=":material/download:",
    help="Streamed from the warehouse as it is written, whatever its size (served by streamlit_app/server.py).",
)
if selection.selection.rows:
    show_detail(found.iloc[selection.selection.rows[0]]["charge_id"])
