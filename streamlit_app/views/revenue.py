"""Revenue: daily, weekly and monthly gross and net per currency, with growth, partial periods marked."""

import altair as alt
import data
import pandas as pd
import streamlit as st
import ui

GRAINS = {"Daily": "day", "Weekly": "week", "Monthly": "month"}
MEASURES = {"gross": "Gross", "net": "Net"}

settings = data.current_settings()
filters = ui.current_filters()
st.title("Revenue")
grain = st.segmented_control("Per", list(GRAINS), default="Weekly", required=True, key="grain")

with ui.warehouse_errors_explained():
    exponents = data.currency_exponents(settings)
    if GRAINS[grain] == "day":
        periods = data.payments_by_day(settings, filters.livemode, filters.first_day, filters.last_day).rename(
            columns={"day": "period_start"})
        periods["is_partial"] = False
    else:
        periods = data.revenue_periods(settings, filters.livemode, GRAINS[grain], filters.first_day, filters.last_day)

periods = periods[periods["currency"].isin(filters.currencies(periods["currency"].unique().tolist()))]
st.caption(
    f"{filters.mode.capitalize()} mode, {GRAINS[grain]}s touching {filters.first_day:%d %b %Y} to "
    f"{filters.last_day:%d %b %Y}, cut in **{settings.timezone}**. Weeks start on Monday. A period the data covers "
    "only in part (the first and the last, usually) is drawn hollow and marked partial: its total and growth are "
    "not a whole period's."
)
if periods.empty:
    st.info(f"No {filters.mode}-mode revenue between {filters.first_day} and {filters.last_day}.")
    st.stop()

for code in periods["currency"].unique():
    exponent = exponents.get(code, ui.FALLBACK_EXPONENT)
    series = periods[periods["currency"] == code]
    with st.container(border=True, key=f"revenue-{code}"):
        st.subheader(code.upper())
        # One row per period and measure, with its growth against the period before (none per day in the mart).
        amounts = pd.concat([
            series[["period_start", "is_partial"]].assign(
                measure=title, amount=series[measure], growth=series.get(f"{measure}_growth_rate"))
            for measure, title in MEASURES.items()])
        amounts["partial"] = amounts["is_partial"].map({True: "partial", False: "whole"})
        amount_format = f",.{exponent}~f"
        chart = (
            alt.Chart(amounts)
            .mark_line(point=alt.OverlayMarkDef(size=70, filled=False))
            .encode(
                x=alt.X("period_start:T", title=None),
                y=alt.Y("amount:Q", title=None, axis=alt.Axis(format=amount_format)),
                color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top"),
                                scale=alt.Scale(range=ui.SERIES_COLOURS[::3])),
                strokeDash=alt.StrokeDash("measure:N", legend=None),
                tooltip=[alt.Tooltip("period_start:T", title="From", format="%d %b %Y"),
                         alt.Tooltip("measure:N", title="Measure"),
                         alt.Tooltip("amount:Q", title="Amount", format=amount_format),
                         alt.Tooltip("growth:Q", title="Growth", format="+.1%"),
                         alt.Tooltip("partial:N", title="Period")],
            )
            .properties(height=220)
        )
        partial_points = alt.Chart(amounts[amounts["is_partial"]]).mark_point(size=160, color="#888").encode(
            x="period_start:T", y="amount:Q")
        st.altair_chart(chart + partial_points, width="stretch")
        columns = ["period_start", "is_partial", "gross", "refunded", "dispute_loss", "net"]
        columns += [c for c in ("gross_growth_rate", "net_growth_rate") if c in series]
        # Sent and drawn only once opened: with six currencies, six tables drawn at once kept the page over 2 s at
        # 1 M charges (docs/benchmarks.md, "page fully rendered"); each point's tooltip has its growth meanwhile.
        with st.expander("Figures and growth", key=f"figures-{code}", on_change="rerun") as figures:
            if figures.open:
                st.dataframe(
                    series,
                    hide_index=True,
                    column_order=columns,
                    column_config={
                        "period_start": st.column_config.DateColumn("From", format="YYYY-MM-DD"),
                        "is_partial": st.column_config.CheckboxColumn("Partial"),
                        "gross": ui.money_column("Gross", exponent),
                        "refunded": ui.money_column("Refunds", exponent),
                        "dispute_loss": ui.money_column("Dispute losses", exponent),
                        "net": ui.money_column("Net", exponent),
                        "gross_growth_rate": st.column_config.NumberColumn("Gross growth", format="percent"),
                        "net_growth_rate": st.column_config.NumberColumn("Net growth", format="percent"),
                    },
                )
