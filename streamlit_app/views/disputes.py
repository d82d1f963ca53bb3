"""Disputes: monthly dispute ratios per card network against their programs' thresholds, and the open disputes,
those waiting for our evidence apart from those already under review."""

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
filters = ui.current_filters()
livemode, mode = filters.livemode, filters.mode
st.title("Disputes")

with ui.warehouse_errors_explained():
    months = data.dispute_months(settings, livemode)
    open_now = data.open_disputes(settings, livemode)
    thresholds = data.network_thresholds(settings)
    exponents = data.currency_exponents(settings)

open_now = open_now[open_now["currency"].isin(filters.currencies(open_now["currency"].tolist()))]
needs_response = open_now[open_now["needs_response"]]
ui.kpi_row(
    [
        ui.Kpi("Open disputes", ui.format_count(len(open_now)), "Inquiries included: they need answers too."),
        ui.Kpi("Needs response", ui.format_count(len(needs_response)), "Stripe is waiting for our evidence."),
        ui.Kpi("Under review", ui.format_count(len(open_now) - len(needs_response)),
               "Evidence submitted; the bank decides. Nothing for us to do."),
        ui.Kpi("Evidence past due", ui.format_count(int(open_now["evidence_past_due"].sum())),
               "Needs a response and its deadline has passed. Disputes under review are never past due."),
        ui.Kpi(
            "Months over a threshold",
            ui.format_count(int((months["threshold_status"] != "ok").sum())),
            "Network-months whose program ratio meets an early-warning or excessive level.",
        ),
    ]
)

st.subheader("Monthly ratios against the programs")
whole = months[~months["is_partial_month"]].dropna(subset=["program_ratio"])
if months.empty:
    st.info(f"No {mode}-mode card sales or disputes in the warehouse yet. {data.REFRESH_HINT}")
else:
    st.caption(
        f"{mode.capitalize()} mode, months cut in **{settings.timezone}**. Program ratio: Visa (VAMP) divides the "
        "month's disputes by the same month's settled sales, Mastercard (ECM) by the previous month's; 'other' "
        "networks have no program. Inquiries are not counted. A program judges a ratio only from its minimum count "
        "of disputes (below). Months the data covers only in part are listed, not plotted: one day of a month is "
        "not the month."
    )
    if whole.empty:
        st.info("No whole month with a program ratio yet.")
    else:
        lines = thresholds[thresholds["network"].isin(whole["network"])]
        ratio = (
            alt.Chart(whole)
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
        )
        rules = (
            alt.Chart(lines)
            .mark_rule(strokeDash=[6, 4])
            .encode(
                y="ratio_threshold:Q",
                color=alt.Color("network:N"),
                tooltip=[
                    alt.Tooltip("program:N", title="Program"),
                    alt.Tooltip("level:N", title="Level"),
                    alt.Tooltip("ratio_threshold:Q", title="Threshold", format=".2%"),
                    alt.Tooltip("min_count:Q", title="Minimum disputes"),
                    alt.Tooltip("regions:N", title="Regions"),
                ],
            )
        )
        st.altair_chart((ratio + rules).properties(height=240), width="stretch")
    st.dataframe(
        thresholds,
        hide_index=True,
        column_config={
            "network": "Network", "program": "Program", "level": "Level",
            "min_count": st.column_config.NumberColumn("Minimum disputes", help="Below it the program judges nothing."),
            "max_count": st.column_config.NumberColumn("Maximum disputes"),
            "ratio_threshold": st.column_config.NumberColumn("Threshold", format="percent"),
            "denominator": "Divided by", "regions": "Regions", "valid_from": "Since",
        },
    )
    st.dataframe(
        months.style.map(lambda status: STATUS_COLOURS.get(status, ""), subset=["threshold_status"]),
        hide_index=True,
        column_order=[
            "month", "network", "is_partial_month", "disputes", "card_sales_same_month",
            "card_transactions_prior_month", "program_ratio", "threshold_status", "open_disputes",
        ],
        column_config={
            "month": st.column_config.DateColumn("Month", format="MMM YYYY"),
            "network": "Network",
            "is_partial_month": st.column_config.CheckboxColumn("Partial", help="The data covers part of the month."),
            "disputes": st.column_config.NumberColumn("Disputes", help="Opened in the month, inquiries excluded."),
            "card_sales_same_month": st.column_config.NumberColumn("Sales (month)"),
            "card_transactions_prior_month": st.column_config.NumberColumn("Sales (prior month)"),
            "program_ratio": st.column_config.NumberColumn("Program ratio", format="percent"),
            "threshold_status": "Status",
            "open_disputes": st.column_config.NumberColumn("Open at month end"),
        },
    )


def open_table(disputes: pd.DataFrame, empty: str, key: str) -> None:
    if disputes.empty:
        st.info(empty)
        return
    disputes = disputes.copy()
    disputes["amount"] = [
        ui.format_money(row.amount_minor, row.currency, exponents.get(row.currency, ui.FALLBACK_EXPONENT))
        for row in disputes.itertuples(index=False)
    ]
    for column in ("created_at", "evidence_due_by"):
        disputes[column] = pd.to_datetime(disputes[column], utc=True).dt.tz_convert(settings.timezone)
    st.dataframe(
        disputes,
        hide_index=True,
        key=key,
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


st.subheader("Needs response")
st.caption(
    f"Most urgent first. Times in **{settings.timezone}**; days left are counted from the last refresh, negative "
    "when the deadline has passed."
)
open_table(needs_response, f"No open {mode}-mode dispute waits for our evidence.", "needs-response")
st.subheader("Under review")
open_table(open_now[~open_now["needs_response"]], f"No {mode}-mode dispute is under review.", "under-review")
