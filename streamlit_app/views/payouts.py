"""Payouts: what is on its way to the bank, what arrived, what failed and came back, and what does not add up."""

import altair as alt
import data
import streamlit as st
import ui

UPCOMING = ("pending", "in_transit")

settings = data.current_settings()
st.title("Payouts")
st.caption(
    "Live money only: Stripe pays out the live balance. A payout is reconciled when the net of the balance "
    "transactions it carried equals its amount; a failed payout's funds return to the balance and a later payout "
    "carries them (docs/decisions.md)."
)

with ui.warehouse_errors_explained():
    payouts = data.payouts(settings, True)
    reconciled = data.payout_reconciliation(settings, "payout")
    unpaid = data.payout_reconciliation(settings, "unpaid_transaction")
    totals = data.payout_reconciliation_totals(settings)
    exponents = data.currency_exponents(settings)

if payouts.empty:
    st.info("No payouts yet: they arrive as payout.* events (webhooks or `payops ingest stripe-events`).")
    st.stop()


def total(frame, column: str = "amount_minor") -> str:
    by_currency = frame.groupby("currency")[column].sum()
    if by_currency.empty:
        return "none"
    return ", ".join(ui.format_money(v, c, exponents.get(c, 2)) for c, v in by_currency.items())


exceptions = reconciled[~reconciled["is_reconciled"].astype(bool)]
payout_totals = totals[totals["record_type"] == "payout"]
unpaid_totals = totals[totals["record_type"] == "unpaid_transaction"]
upcoming = payouts[payouts["status"].isin(UPCOMING)]
paid = payouts[payouts["status"] == "paid"]
failed = payouts[payouts["status"] == "failed"]
ui.kpi_row([
    ui.Kpi("On its way", total(upcoming), "Pending or in transit to the bank."),
    ui.Kpi("Paid", total(paid), f"{ui.format_count(len(paid))} payout(s) that reached the bank."),
    ui.Kpi("Failed", ui.format_count(len(failed)), "Returned to the balance; a later payout carries the funds."),
    ui.Kpi("Not reconciled", ui.format_count(int(payout_totals["not_reconciled"].sum())),
           "Paid automatic payouts whose itemized net differs from the amount."),
    ui.Kpi("Not yet paid out", total(unpaid_totals),
           f"{ui.format_count(int(unpaid_totals['records'].sum()))} balance transaction(s) no payout carried yet."),
])

exponent = exponents.get(payouts["currency"].iloc[0], 2)
st.subheader("Paid out per arrival day")
st.altair_chart(
    alt.Chart(paid.assign(amount=paid["amount"].astype(float)))
    .mark_bar()
    .encode(x=alt.X("yearmonthdate(arrival_date):T", title="Arrival"),
            y=alt.Y("sum(amount):Q", title="Amount"), tooltip=["payout_id", "amount", "arrival_date"])
    .properties(height=220),
    width="stretch",
)

payout_columns = {
    "payout_id": "Payout", "status": "Status", "amount": ui.money_column("Amount", exponent),
    "currency": "Currency", "arrival_date": st.column_config.DatetimeColumn("Arrival", format="YYYY-MM-DD"),
    "created_at": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
    "itemized_transactions": "Transactions", "itemized_net": ui.money_column("Itemized net", exponent),
    "reconciliation_status": "Stripe reconciliation", "failure_code": "Failure", "failure_message": "Why",
}
upcoming_tab, paid_tab, exceptions_tab, unpaid_tab = st.tabs(
    ["Upcoming", "Paid and failed", "Reconciliation exceptions", "Not yet paid out"]
)
with upcoming_tab:
    st.dataframe(upcoming, hide_index=True, column_order=list(payout_columns), column_config=payout_columns)
with paid_tab:
    st.dataframe(payouts[~payouts["status"].isin(UPCOMING)], hide_index=True, column_order=list(payout_columns),
                 column_config=payout_columns)
with exceptions_tab:
    if exceptions.empty:
        st.success("Every paid automatic payout equals the net of the transactions it carried.")
    else:
        st.dataframe(exceptions, hide_index=True, column_order=[
            "payout_id", "currency", "amount_minor", "itemized_net_minor", "difference_minor", "created_at"])
with unpaid_tab:
    if len(unpaid) < unpaid_totals["records"].sum():
        st.caption(f"The {len(unpaid):,} oldest of {int(unpaid_totals['records'].sum()):,}.")
    st.dataframe(unpaid, hide_index=True, column_order=[
        "balance_transaction_id", "currency", "amount_minor", "created_at", "available_on", "age_days",
    ], column_config={
        "available_on": st.column_config.DatetimeColumn("Available on", format="YYYY-MM-DD"),
        "age_days": "Age (days)", "amount_minor": "Net (minor units)",
    })
