"""Overview: per-currency payment KPIs and the daily revenue trend for one mode and a range of days."""

import data
import streamlit as st
import ui

settings = data.current_settings()
st.title("Payments overview")

livemode, first_day, last_day = picked = ui.mode_and_days(settings, *st.columns([1, 2]))
mode = picked.mode

with ui.warehouse_errors_explained():
    exponents = data.currency_exponents(settings)
    totals = data.payment_totals(settings, livemode, first_day, last_day)
    daily = data.payments_by_day(settings, livemode, first_day, last_day)

st.caption(
    f"{mode.capitalize()} mode, {first_day:%d %b %Y} to {last_day:%d %b %Y}, days cut in **{settings.timezone}**. "
    "Each currency stands alone: amounts in different currencies are never added."
)
if totals.empty:
    st.info(f"No {mode}-mode payments between {first_day} and {last_day}.")
    st.stop()

for currency in totals.itertuples(index=False):
    code = currency.currency
    exponent = exponents.get(code, ui.FALLBACK_EXPONENT)
    days = daily[daily["currency"] == code]
    with st.container(border=True, key=f"currency-{code}"):
        st.subheader(code.upper())
        ui.kpi_row(
            [
                ui.Kpi("Charge attempts", ui.format_count(currency.charge_attempts)),
                ui.Kpi(
                    "Attempt success rate",
                    ui.format_rate(currency.charges_succeeded, currency.charge_attempts),
                    "Succeeded charges over all charge attempts, retries included.",
                ),
            ]
        )
        ui.kpi_row(
            [
                ui.Kpi("Gross", ui.format_money(currency.gross_minor, code, exponent)),
                ui.Kpi("Refunds", ui.format_money(currency.refunded_minor, code, exponent)),
                ui.Kpi(
                    "Net",
                    ui.format_money(currency.net_minor, code, exponent),
                    "Gross minus refunds minus lost disputes.",
                ),
            ]
        )
        st.altair_chart(
            ui.daily_amounts_chart(days, first_day, last_day, {"gross": "Gross", "net": "Net"}, exponent),
            width="stretch",
        )
        with st.expander("Daily figures"):
            st.dataframe(
                days,
                hide_index=True,
                column_order=["day", "charge_attempts", "success_rate", "gross", "refunded", "net"],
                column_config={
                    "day": st.column_config.DateColumn("Day", format="YYYY-MM-DD"),
                    "charge_attempts": st.column_config.NumberColumn("Attempts"),
                    "success_rate": st.column_config.NumberColumn("Success rate", format="percent"),
                    "gross": ui.money_column("Gross", exponent),
                    "refunded": ui.money_column("Refunds", exponent),
                    "net": ui.money_column("Net", exponent),
                },
            )
