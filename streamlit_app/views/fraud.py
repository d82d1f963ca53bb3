"""Fraud signals: the customers and charges the explainable rules scored, the rules that fired, and each rule's
threshold."""

import data
import streamlit as st
import ui

settings = data.current_settings()
st.title("Fraud signals")

with ui.warehouse_errors_explained():
    customers = data.fraud_signals(settings, "customer")
    charges = data.fraud_signals(settings, "charge")
    rules = data.fraud_rules(settings)

st.caption(
    "Both modes. A charge fires a rule from its customer's charges in the rule's window up to it; a customer fires "
    "every rule any of its charges fired. Risk score = the fired rules' weights added, at most 100 "
    "(docs/decisions.md, fraud signals)."
)
ui.kpi_row([
    ui.Kpi("Customers scored", ui.format_count(len(customers))),
    ui.Kpi("Charges scored", ui.format_count(len(charges))),
    ui.Kpi("Highest score", ui.format_count(int(customers["risk_score"].max())) if len(customers) else "n/a"),
])

st.subheader("Rules and thresholds")
st.dataframe(rules, hide_index=True, column_config={
    "rule_name": "Rule", "threshold": "Threshold", "window_minutes": "Window (minutes)",
    "amount_cap_major": "Amount cap", "weight": "Weight", "description": st.column_config.TextColumn("Fires when",
                                                                                                    width="large"),
})

for title, frame, key in (("Customers", customers, "fraud-customers"), ("Charges", charges, "fraud-charges")):
    st.subheader(title)
    if frame.empty:
        st.info(f"No {title.lower()} fired a rule.")
        continue
    if key == "fraud-charges":
        frame = frame.assign(detail=[f"transactions?charge={charge}" for charge in frame["entity_id"]])
    st.dataframe(frame, hide_index=True, key=key, column_config={
        "entity_id": "Charge" if key == "fraud-charges" else "Customer",
        "customer_id": "Customer",
        "risk_score": st.column_config.ProgressColumn("Risk score", min_value=0, max_value=100, format="%d"),
        "rules_fired": "Rules fired",
        "detail": st.column_config.LinkColumn("Detail", display_text="Open charge"),
    })
