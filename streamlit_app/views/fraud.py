"""Fraud signals: the customers and charges the explainable rules scored, the rules that fired, and each rule's
threshold."""

import data
import streamlit as st
import ui

settings = data.current_settings()
st.title("Fraud signals")

with ui.warehouse_errors_explained():
    scored = data.fraud_scored(settings)
    customers = data.fraud_signals(settings, "customer")
    charges = data.fraud_signals(settings, "charge")
    rules = data.fraud_rules(settings)

st.caption(
    "Both modes. A charge fires a rule from its customer's charges in the rule's window up to it; a customer fires "
    "every rule any of its charges fired. Risk score = the fired rules' weights added, at most 100 "
    "(docs/decisions.md, fraud signals)."
)
highest = scored["customer"]["highest_score"]
ui.kpi_row([
    ui.Kpi("Customers scored", ui.format_count(scored["customer"]["scored"])),
    ui.Kpi("Charges scored", ui.format_count(scored["charge"]["scored"])),
    ui.Kpi("Highest score", "n/a" if highest is None else ui.format_count(highest)),
])

st.subheader("Rules and thresholds")
st.dataframe(rules, hide_index=True, column_config={
    "rule_name": "Rule", "threshold": "Threshold", "window_minutes": "Window (minutes)",
    "amount_cap_major": "Amount cap", "weight": "Weight", "description": st.column_config.TextColumn("Fires when",
                                                                                                    width="large"),
})

for title, frame, kind in (("Customers", customers, "customer"), ("Charges", charges, "charge")):
    key = f"fraud-{kind}s"
    st.subheader(title)
    if frame.empty:
        st.info(f"No {title.lower()} fired a rule.")
        continue
    if scored[kind]["scored"] > len(frame):
        st.caption(f"The {len(frame):,} riskiest of {scored[kind]['scored']:,}.")
    if kind == "charge":
        frame = frame.assign(detail=[f"transactions?charge={charge}" for charge in frame["entity_id"]])
    st.dataframe(frame, hide_index=True, key=key, column_config={
        "entity_id": title[:-1],
        "customer_id": "Customer",
        "risk_score": st.column_config.ProgressColumn("Risk score", min_value=0, max_value=100, format="%d"),
        "rules_fired": "Rules fired",
        "detail": st.column_config.LinkColumn("Detail", display_text="Open charge"),
    })
