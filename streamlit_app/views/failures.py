"""Failures: what the failed attempts of one currency and mode have in common, and the days a cause jumped."""

import altair as alt
import data
import streamlit as st
import ui

DIMENSION_TITLES = {
    "failure_code": "Failure code",
    "decline_code": "Decline code",
    "card_brand": "Card brand",
    "card_country": "Card country",
}
TOP_VALUES = 10

settings = data.current_settings()
filters = ui.current_filters()
livemode, first_day, last_day, mode = filters.livemode, filters.first_day, filters.last_day, filters.mode
st.title("Payment failures")

with ui.warehouse_errors_explained():
    currencies = data.failure_currencies(settings, livemode, first_day, last_day)
    min_count = data.spike_min_count(settings)
currencies = currencies[currencies["currency"].isin(filters.currencies(currencies["currency"].tolist()))]
if currencies.empty:
    st.info(f"No failed {mode}-mode attempts between {first_day} and {last_day}.")
    st.stop()

currency = st.selectbox(
    "Currency",
    currencies["currency"].tolist(),
    format_func=lambda code: code.upper(),
    help="Currencies with failed attempts in the range, most failures first.",
    key="currency",
)

with ui.warehouse_errors_explained():
    breakdown = data.failure_breakdown(settings, livemode, currency, first_day, last_day)
    spikes = data.failure_spikes(settings, livemode, currency, first_day, last_day)
    rates = data.success_rates_by_day(settings, livemode, currency, first_day, last_day)

failed = int(currencies.loc[currencies["currency"] == currency, "failed_attempts"].iloc[0])
st.caption(
    f"{mode.capitalize()} mode, {currency.upper()}, {first_day:%d %b %Y} to {last_day:%d %b %Y}, days cut in "
    f"**{settings.timezone}**. Share = a value's failed attempts over all failed attempts of the range."
)
top_code = breakdown[breakdown["dimension"] == "failure_code"].iloc[0]
ui.kpi_row(
    [
        ui.Kpi("Failed attempts", ui.format_count(failed)),
        ui.Kpi("Top failure code", str(top_code["dimension_value"])),
        ui.Kpi("Top failure code share", f"{top_code['share']:.1%}"),
        ui.Kpi("Spikes", ui.format_count(len(spikes)),
               f"Days a value's share jumped over its trailing-week share, with at least {min_count} failures."),
    ]
)

rates_long = rates.melt("day", var_name="rate", value_name="success").dropna()
rates_long["rate"] = rates_long["rate"].map(
    {"attempt_success_rate": "Charge attempts", "intent_success_rate": "Payment intents"})
st.altair_chart(
    alt.Chart(rates_long, title="Success rate per day")
    .mark_line(point=True)
    .encode(
        x=alt.X("day:T", title=None, axis=alt.Axis(format="%d %b")),
        y=alt.Y("success:Q", title=None, axis=alt.Axis(format="%")),
        color=alt.Color("rate:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("day:T", title="Day", format="%d %b %Y"), alt.Tooltip("rate:N", title="Of"),
                 alt.Tooltip("success:Q", title="Succeeded", format=".1%")],
    )
    .properties(height=200),
    width="stretch",
)


def share_bars(values, title: str) -> alt.Chart:
    shown = values.head(TOP_VALUES)
    return (
        alt.Chart(shown, title=title)
        .mark_bar()
        .encode(
            x=alt.X("share:Q", title=None, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("dimension_value:N", title=None, sort="-x"),
            tooltip=[
                alt.Tooltip("dimension_value:N", title=title),
                alt.Tooltip("failed_attempts:Q", title="Failed attempts", format=","),
                alt.Tooltip("share:Q", title="Share", format=".1%"),
            ],
        )
        .properties(height=alt.Step(22))
    )


columns = st.columns(2)
for index, (dimension, title) in enumerate(DIMENSION_TITLES.items()):
    with columns[index % 2], st.container(border=True, key=f"dimension-{dimension}"):
        values = breakdown[breakdown["dimension"] == dimension]
        st.altair_chart(share_bars(values, title), width="stretch")
        if len(values) > TOP_VALUES:
            st.caption(f"Top {TOP_VALUES} of {len(values)} values.")

st.subheader("Spikes")
if spikes.empty:
    st.info(f"No spikes between {first_day} and {last_day}: no value with at least {min_count} failed attempts "
            "had its share of failures jump over its trailing-week share.")
else:
    spikes["dimension"] = spikes["dimension"].map(DIMENSION_TITLES)
    st.caption(f"A spike needs at least {min_count} failed attempts (dbt var failure_spike_min_count) and a share "
               "over twice its trailing-week share.")
    st.dataframe(
        spikes,
        hide_index=True,
        column_order=["day", "dimension", "dimension_value", "failed_attempts", "failures_total", "share",
                      "baseline_share"],
        column_config={
            "day": st.column_config.DateColumn("Day", format="YYYY-MM-DD"),
            "dimension": "Dimension",
            "dimension_value": "Value",
            "failed_attempts": st.column_config.NumberColumn("Failed attempts"),
            "failures_total": st.column_config.NumberColumn("All failures that day"),
            "share": st.column_config.NumberColumn("Share", format="percent"),
            "baseline_share": st.column_config.NumberColumn(
                "Baseline share", format="percent", help="The value's share over the 7 days before."
            ),
        },
    )
