"""Disputes: monthly dispute ratios per card network against the monitoring programs, and the open disputes."""

import altair as alt
import data
import pandas as pd
import streamlit as st
import ui

STATUS_COLOURS = {
    "ok": "",
    "early_warning": "background-color: #fff3c4",
    "excessive": "background-color: #ffd8b0",
    "high_excessive": "background-color: #ffb3b3",
}

settings = data.current_settings()
st.title("Disputes")
livemode = ui.livemode_choice()
mode = ui.mode_name(livemode)

with ui.warehouse_errors_explained():
    months = data.dispute_months(settings, livemode)
    open_now = data.open_disputes(settings, livemode)
    exponents = data.currency_exponents(settings)

past_due = int((open_now["days_left"] < 0).sum())
ui.kpi_row(
    [
        ui.Kpi("Open disputes", ui.format_count(len(open_now)), "Inquiries included: they need answers too."),
        ui.Kpi("Evidence past due", ui.format_count(past_due)),
        ui.Kpi(
            "Months over a threshold",
            ui.format_count(int((months["threshold_status"] != "ok").sum())),
            "Network-months whose program ratio meets an early-warning or excessive level.",
        ),
    ]
)

st.subheader("Monthly ratios")
if months.empty:
    st.info(f"No {mode}-mode card sales or disputes in the warehouse yet. {data.REFRESH_HINT}")
else:
    st.caption(
        f"{mode.capitalize()} mode, months cut in **{settings.timezone}**. Program ratio: Visa (VAMP) divides the "
        "month's disputes by the same month's settled sales, Mastercard (ECM) by the previous month's; 'other' "
        "networks have no program. Inquiries are not counted. Thresholds depend on region and date: see "
        "threshold_status."
    )
    rated = months.dropna(subset=["program_ratio"])
    if not rated.empty:
        chart = (
            alt.Chart(rated)
            .mark_line(point=alt.OverlayMarkDef(size=60))
            .encode(
                x=alt.X("yearmonth(month):T", title=None, axis=alt.Axis(format="%b %Y", tickCount="month")),
                y=alt.Y("program_ratio:Q", title="Program ratio", axis=alt.Axis(format=".1%")),
                color=alt.Color("network:N", title=None, legend=alt.Legend(orient="top")),
                tooltip=[
                    alt.Tooltip("month:T", title="Month", format="%b %Y"),
                    alt.Tooltip("network:N", title="Network"),
                    alt.Tooltip("disputes:Q", title="Disputes"),
                    alt.Tooltip("program_ratio:Q", title="Program ratio", format=".2%"),
                    alt.Tooltip("threshold_status:N", title="Status"),
                ],
            )
            .properties(height=220)
        )
        st.altair_chart(chart, width="stretch")
    st.dataframe(
        months.style.map(lambda status: STATUS_COLOURS.get(status, ""), subset=["threshold_status"]),
        hide_index=True,
        column_order=[
            "month", "network", "disputes", "card_sales_same_month", "card_transactions_prior_month",
            "visa_ratio", "mastercard_ratio", "threshold_status", "open_disputes",
        ],
        column_config={
            "month": st.column_config.DateColumn("Month", format="MMM YYYY"),
            "network": "Network",
            "disputes": st.column_config.NumberColumn("Disputes", help="Opened in the month, inquiries excluded."),
            "card_sales_same_month": st.column_config.NumberColumn("Sales (month)"),
            "card_transactions_prior_month": st.column_config.NumberColumn("Sales (prior month)"),
            "visa_ratio": st.column_config.NumberColumn(
                "Same-month ratio", format="percent", help="Disputes / the month's sales: Visa VAMP's ratio."
            ),
            "mastercard_ratio": st.column_config.NumberColumn(
                "Prior-month ratio", format="percent", help="Disputes / the previous month's sales: Mastercard ECM's."
            ),
            "threshold_status": "Status",
            "open_disputes": st.column_config.NumberColumn("Open at month end"),
        },
    )

st.subheader("Open disputes")
if open_now.empty:
    st.info(f"No open {mode}-mode disputes.")
else:
    open_now["amount"] = [
        ui.format_money(row.amount_minor, row.currency, exponents.get(row.currency, ui.FALLBACK_EXPONENT))
        for row in open_now.itertuples(index=False)
    ]
    for column in ("created_at", "evidence_due_by"):
        open_now[column] = pd.to_datetime(open_now[column], utc=True).dt.tz_convert(settings.timezone)
    st.caption(
        f"Most urgent first. Times in **{settings.timezone}**; days left are counted from the last "
        "`payops refresh`, negative when the deadline has passed."
    )
    st.dataframe(
        open_now,
        hide_index=True,
        column_order=[
            "evidence_due_by", "days_left", "dispute_id", "network", "reason", "status", "amount", "created_at",
            "charge_id",
        ],
        column_config={
            "evidence_due_by": st.column_config.DatetimeColumn("Evidence due by", format="YYYY-MM-DD HH:mm"),
            "days_left": st.column_config.NumberColumn("Days left"),
            "dispute_id": "Dispute",
            "network": "Network",
            "reason": "Reason",
            "status": "Status",
            "amount": "Amount",
            "created_at": st.column_config.DatetimeColumn("Opened", format="YYYY-MM-DD HH:mm"),
            "charge_id": "Charge",
        },
    )
