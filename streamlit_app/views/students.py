"""Students: find one, then their payment summary per currency, hours bought against hours left, and history."""

from datetime import date

import data
import pandas as pd
import streamlit as st
import ui

settings = data.current_settings()
filters = ui.current_filters()
st.title("Students")

term = st.text_input("Find a student", key="student-search", placeholder="a name, an email or a student id")
if not term.strip():
    st.info("Type part of a student's name or email (theirs or their family's), or their id.")
    st.stop()

with ui.warehouse_errors_explained():
    found = data.find_students(settings, term)
if found.empty:
    st.info(f"No student matches {term!r}.")
    st.stop()

choice = st.selectbox(
    f"{len(found)} match(es)", found["student_id"].tolist(), key="student-choice",
    format_func=lambda student_id: "{} ({}, {})".format(
        *found.loc[found["student_id"] == student_id, ["student_name", "student_email", "student_id"]].iloc[0]),
)
student = found[found["student_id"] == choice].iloc[0]

with ui.warehouse_errors_explained():
    summary = data.student_summary(settings, choice, filters.livemode)
    exponents = data.currency_exponents(settings)
    history = data.search_transactions(
        settings,
        data.TransactionSearch(livemode=filters.livemode, first_day=date.min,
                               last_day=pd.Timestamp.max.date(), text=choice),
        0, 200,
    )

st.subheader(str(student["student_name"]))
st.caption(f"{student['student_email']} · family {student['family_name']} ({student['family_email']}) · "
           f"Stripe customer {student['stripe_customer_id'] or 'none'} · {filters.mode} mode, all time")
if summary.empty:
    st.info(f"{student['student_name']} has no {filters.mode}-mode payments.")
for row in summary.itertuples(index=False):
    exponent = exponents.get(row.currency, ui.FALLBACK_EXPONENT)
    with st.container(border=True, key=f"student-{row.currency}"):
        ui.kpi_row([
            ui.Kpi("Gross", ui.format_money(row.gross_amount_minor, row.currency, exponent)),
            ui.Kpi("Refunded", ui.format_money(row.refunded_amount_minor, row.currency, exponent)),
            ui.Kpi("Net", ui.format_money(row.net_amount_minor, row.currency, exponent)),
            ui.Kpi("Purchases", ui.format_count(row.purchases)),
            ui.Kpi("Failed attempts", ui.format_count(row.failed_attempts)),
            ui.Kpi("Disputes", ui.format_count(row.disputes)),
            ui.Kpi("Hours bought", f"{row.hours_purchased:,.1f}"),
            ui.Kpi("Hours left", "n/a" if pd.isna(row.hours_balance) else f"{row.hours_balance:,.1f}",
                   "The platform's balance of lesson hours."),
        ])

st.subheader("History")
if history.empty:
    st.info("No charges.")
else:
    history["created_at"] = pd.to_datetime(history["created_at"], utc=True).dt.tz_convert(settings.timezone)
    history["detail"] = [f"transactions?charge={charge}&mode={filters.mode}" for charge in history["charge_id"]]
    st.dataframe(history, hide_index=True, key="student-history",
                 column_order=["created_at", "charge_id", "status", "amount", "currency", "failure_code", "disputed",
                               "detail"],
                 column_config={"created_at": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
                                "detail": st.column_config.LinkColumn("Detail", display_text="Open charge")})
