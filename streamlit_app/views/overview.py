"""Overview: per-currency KPIs over the global range, each against the previous range of equal length, and the
daily gross, refunds, dispute losses and net as distinct series. Updates itself when a refresh lands."""

from datetime import timedelta

import data
import streamlit as st
import ui

CHECK_FOR_A_NEW_BUILD_EVERY = "30s"
SERIES = {"gross": "Gross", "refunded": "Refunds", "dispute_loss": "Dispute losses", "net": "Net"}

settings = data.current_settings()
filters = ui.current_filters()
st.title("Payments overview")


@st.fragment(run_every=CHECK_FOR_A_NEW_BUILD_EVERY)
def rerun_when_a_refresh_lands() -> None:
    # Reads one row each time; the whole page reruns (cached readers cleared) only when the build changed.
    built_at = data.latest_build(settings)
    shown = st.session_state.setdefault("overview_build", built_at)
    if built_at != shown:
        st.session_state["overview_build"] = built_at
        st.rerun(scope="app")


rerun_when_a_refresh_lands()

first_day, last_day = filters.first_day, filters.last_day
length = (last_day - first_day).days + 1
previous_first, previous_last = first_day - timedelta(days=length), first_day - timedelta(days=1)

with ui.warehouse_errors_explained():
    exponents = data.currency_exponents(settings)
    totals = data.payment_totals(settings, filters.livemode, first_day, last_day)
    previous = data.payment_totals(settings, filters.livemode, previous_first, previous_last).set_index("currency")
    daily = data.payments_by_day(settings, filters.livemode, first_day, last_day)

st.caption(
    f"{filters.mode.capitalize()} mode, {first_day:%d %b %Y} to {last_day:%d %b %Y}, days cut in "
    f"**{settings.timezone}**; changes against {previous_first:%d %b} to {previous_last:%d %b %Y}, the "
    f"{length} days before. Each currency stands alone: amounts in different currencies are never added."
)
totals = totals[totals["currency"].isin(filters.currencies(totals["currency"].tolist()))]
if totals.empty:
    st.info(f"No {filters.mode}-mode payments between {first_day} and {last_day}.")
    st.stop()


def change(now: int, before: int | None, exponent: int | None = None, code: str = "") -> str | None:
    if before is None or int(now) == int(before):
        return None
    difference = int(now) - int(before)
    return ui.format_count(difference) if exponent is None else ui.format_money(difference, code, exponent)


for currency in totals.itertuples(index=False):
    code = currency.currency
    exponent = exponents.get(code, ui.FALLBACK_EXPONENT)
    before = previous.loc[code] if code in previous.index else None
    days = daily[daily["currency"] == code]
    with st.container(border=True, key=f"currency-{code}"):
        st.subheader(code.upper())
        kpis = [
            ("Charge attempts", ui.format_count(currency.charge_attempts), "charge_attempts", None, None),
            ("Gross", ui.format_money(currency.gross_minor, code, exponent), "gross_minor", exponent, None),
            ("Refunds", ui.format_money(currency.refunded_minor, code, exponent), "refunded_minor", exponent, None),
            ("Dispute losses", ui.format_money(currency.dispute_loss_minor, code, exponent), "dispute_loss_minor",
             exponent, None),
            ("Net", ui.format_money(currency.net_minor, code, exponent), "net_minor", exponent,
             "Gross minus refunds minus lost disputes."),
        ]
        with st.container(horizontal=True, gap="medium"):
            st.metric(
                "Attempt success rate",
                ui.format_rate(currency.charges_succeeded, currency.charge_attempts),
                help="Succeeded charges over all charge attempts, retries included.",
                width="content",
            )
            for label, value, column, money_exponent, help_text in kpis:
                delta = None if before is None else change(
                    getattr(currency, column), before[column], money_exponent, code)
                inverse = column in ("refunded_minor", "dispute_loss_minor")
                st.metric(label, value, delta=delta, help=help_text, width="content",
                          delta_color="inverse" if inverse else "normal")
        st.altair_chart(ui.daily_amounts_chart(days, first_day, last_day, SERIES, exponent), width="stretch")
        # Sent and drawn only once opened: a closed expander's table is still sent and drawn, and six of them kept
        # the page over 2 s at 1 M charges (docs/benchmarks.md, "page fully rendered").
        with st.expander("Daily figures", key=f"daily-{code}", on_change="rerun") as daily_figures:
            if daily_figures.open:
                st.dataframe(
                    days,
                    hide_index=True,
                    column_order=["day", "charge_attempts", "success_rate", *SERIES],
                    column_config={
                        "day": st.column_config.DateColumn("Day", format="YYYY-MM-DD"),
                        "charge_attempts": st.column_config.NumberColumn("Attempts"),
                        "success_rate": st.column_config.NumberColumn("Success rate", format="percent"),
                        **{column: ui.money_column(title, exponent) for column, title in SERIES.items()},
                    },
                )
