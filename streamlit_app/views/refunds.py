"""Refunds: money refunded per day and reason, and the share of gross refunded, per currency."""

import altair as alt
import data
import streamlit as st
import ui

settings = data.current_settings()
filters = ui.current_filters()
st.title("Refunds")

with ui.warehouse_errors_explained():
    exponents = data.currency_exponents(settings)
    refunds = data.refunds_by_day(settings, filters.livemode, filters.first_day, filters.last_day)
    totals = data.payment_totals(settings, filters.livemode, filters.first_day, filters.last_day).set_index("currency")

st.caption(
    f"{filters.mode.capitalize()} mode, {filters.first_day:%d %b %Y} to {filters.last_day:%d %b %Y}, days cut in "
    f"**{settings.timezone}**. A refund counts on the day it was made, not the day of the charge; the share is "
    "refunds over gross of the same days."
)
refunds = refunds[refunds["currency"].isin(filters.currencies(refunds["currency"].unique().tolist()))]
if refunds.empty:
    st.info(f"No {filters.mode}-mode refunds between {filters.first_day} and {filters.last_day}.")
    st.stop()

for code in refunds["currency"].unique():
    exponent = exponents.get(code, ui.FALLBACK_EXPONENT)
    rows = refunds[refunds["currency"] == code]
    refunded_minor = int(rows["amount_minor"].sum())
    gross_minor = int(totals.loc[code, "gross_minor"]) if code in totals.index else 0
    with st.container(border=True, key=f"refunds-{code}"):
        st.subheader(code.upper())
        ui.kpi_row([
            ui.Kpi("Refunds", ui.format_count(int(rows["refunds"].sum()))),
            ui.Kpi("Refunded", ui.format_money(refunded_minor, code, exponent)),
            ui.Kpi("Share of gross refunded", ui.format_rate(refunded_minor, gross_minor),
                   "Refunded in the range over gross charged in the range."),
        ])
        amount_format = f",.{exponent}~f"
        left, right = st.columns([2, 1])
        left.altair_chart(
            alt.Chart(rows, title="Refunded per day, by reason")
            .mark_bar()
            .encode(
                x=alt.X("day:T", title=None, axis=alt.Axis(format="%d %b")),
                y=alt.Y("sum(amount):Q", title=None, axis=alt.Axis(format=amount_format)),
                color=alt.Color("reason:N", title=None, legend=alt.Legend(orient="top")),
                tooltip=[alt.Tooltip("day:T", title="Day", format="%d %b %Y"), alt.Tooltip("reason:N", title="Reason"),
                         alt.Tooltip("sum(amount):Q", title="Refunded", format=amount_format),
                         alt.Tooltip("sum(refunds):Q", title="Refunds")],
            )
            .properties(height=220),
            width="stretch",
        )
        by_reason = rows.groupby("reason", as_index=False)[["refunds", "amount"]].sum()
        right.altair_chart(
            alt.Chart(by_reason, title="By reason")
            .mark_bar()
            .encode(x=alt.X("amount:Q", title=None, axis=alt.Axis(format=amount_format)),
                    y=alt.Y("reason:N", title=None, sort="-x"),
                    tooltip=[alt.Tooltip("reason:N", title="Reason"), alt.Tooltip("refunds:Q", title="Refunds"),
                             alt.Tooltip("amount:Q", title="Refunded", format=amount_format)])
            .properties(height=alt.Step(26)),
            width="stretch",
        )
