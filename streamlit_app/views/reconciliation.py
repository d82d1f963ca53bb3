"""Reconciliation: every disagreement between the platform's purchases and Stripe, by kind."""

import data
import pandas as pd
import streamlit as st
import ui

KIND_TITLES = {
    "missing_in_stripe": "Missing in Stripe",
    "missing_in_app": "Missing in app",
    "status_mismatch": "Status mismatch",
    "amount_mismatch": "Amount mismatch",
    "currency_mismatch": "Currency mismatch",
}
KIND_HELP = {
    "missing_in_stripe": "The app recorded a payment Stripe does not have.",
    "missing_in_app": "Stripe charged for something the app has no purchase of.",
    "status_mismatch": "The app's payment_status is not what Stripe's charge says.",
    "amount_mismatch": "The app's amount x 10^exponent is not the charge's amount in minor units.",
    "currency_mismatch": "The app and the charge name different currencies.",
}

settings = data.current_settings()
filters = ui.current_filters()
livemode, mode = filters.livemode, filters.mode
st.title("Reconciliation")

with ui.warehouse_errors_explained():
    counts = data.reconciliation_counts(settings, livemode)
    at_stake = data.reconciliation_at_stake(settings, livemode)
    exponents = data.currency_exponents(settings)

st.caption(
    f"{mode.capitalize()} mode. A purchase is compared with its charge; in-flight purchases are not exceptions "
    "during the grace period (docs/decisions.md §15)."
)
ui.kpi_row(
    [ui.Kpi("All exceptions", ui.format_count(sum(counts.values())))]
    + [
        ui.Kpi(KIND_TITLES.get(kind, kind), ui.format_count(count), KIND_HELP.get(kind))
        for kind, count in counts.items()
    ]
)
if not at_stake.empty:
    ui.kpi_row([
        ui.Kpi(f"At stake in {row.currency.upper()}",
               ui.format_money(row.at_stake_minor, row.currency, exponents.get(row.currency, ui.FALLBACK_EXPONENT)),
               f"{row.exceptions:,} exception(s): the difference for amount mismatches, the whole payment otherwise.")
        for row in at_stake.itertuples(index=False)
    ])
if not sum(counts.values()):
    st.info(f"No {mode}-mode exceptions: the platform's purchases and Stripe agree.")
    st.stop()

present = [kind for kind, count in counts.items() if count]
kinds = st.multiselect(
    "Kinds", present, default=present, format_func=lambda kind: KIND_TITLES.get(kind, kind), key="kinds"
)
if not kinds:
    st.info("Pick at least one kind.")
    st.stop()

with ui.warehouse_errors_explained():
    exceptions = data.reconciliation_exceptions(settings, livemode, tuple(sorted(kinds)))
exceptions["kind"] = exceptions["kind"].map(lambda kind: KIND_TITLES.get(kind, kind))
exceptions["first_seen_at"] = pd.to_datetime(exceptions["first_seen_at"], utc=True).dt.tz_convert(settings.timezone)
exceptions["at_stake"] = [
    None if pd.isna(row.amount_at_stake_minor) else ui.format_money(
        row.amount_at_stake_minor, row.currency, exponents.get(row.currency, ui.FALLBACK_EXPONENT))
    for row in exceptions.itertuples(index=False)
]
# Both values with their currency: "48.750 KWD", not a bare "48.750".
for side in ("app_value", "stripe_value"):
    exceptions[side] = [
        f"{value} {currency.upper()}" if kind == "Amount mismatch" and value is not None else value
        for value, currency, kind in zip(exceptions[side], exceptions["currency"], exceptions["kind"], strict=True)
    ]
exceptions["detail"] = [
    None if pd.isna(charge) else f"transactions?charge={charge}&mode={mode}" for charge in exceptions["charge_id"]
]
st.dataframe(
    exceptions,
    hide_index=True,
    column_order=[
        "kind", "first_seen_at", "app_value", "stripe_value", "at_stake", "purchase_transaction_id", "charge_id",
        "payment_intent_id", "detail",
    ],
    column_config={
        "kind": "Kind",
        "purchase_transaction_id": "Purchase",
        "charge_id": "Charge",
        "payment_intent_id": "Payment intent",
        "app_value": st.column_config.TextColumn("App says", help="payment_status, amount or currency"),
        "stripe_value": st.column_config.TextColumn("Stripe says"),
        "at_stake": st.column_config.TextColumn(
            "At stake", help="The difference for an amount mismatch, the whole payment otherwise."),
        "first_seen_at": st.column_config.DatetimeColumn(
            f"First seen ({settings.timezone})", format="YYYY-MM-DD HH:mm"
        ),
        "detail": st.column_config.LinkColumn("Detail", display_text="Open charge"),
    },
)
