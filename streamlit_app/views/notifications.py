"""Notifications: the alert conditions open now, recent alerts, and whether each channel is delivering them."""

import data
import streamlit as st
import ui

WINDOWS = {"24 hours": 1, "7 days": 7, "30 days": 30}
SEVERITY_ORDER = ["critical", "error", "warning", "info"]

settings = data.current_settings()
st.title("Notifications")
window = st.segmented_control("Last", list(WINDOWS), default="7 days", required=True, key="window")
days = WINDOWS[window]

with ui.warehouse_errors_explained():
    conditions = data.alert_conditions(settings, days)
    channels = data.alert_delivery_status(settings, days)

open_now = conditions[conditions["is_open"]]
ui.kpi_row(
    [
        ui.Kpi("Open conditions", ui.format_count(len(open_now)), "Each is announced once, and once more when it "
               "resolves."),
        ui.Kpi("Critical or error", ui.format_count(int(open_now["severity"].isin(["critical", "error"]).sum()))),
        ui.Kpi("Alerts in the window", ui.format_count(len(conditions)), "Open now, or opened in the window."),
        ui.Kpi("Undelivered messages", ui.format_count(int(channels["undelivered"].sum()) if len(channels) else 0),
               "Their last attempt failed; they are retried with back-off on the next sensor tick."),
    ]
)

st.subheader("Delivery by channel")
st.caption("Channels and their minimum severities come from PAYOPS_HOME/payops.toml ([alerts]) and PAYOPS_ALERT_*.")
if channels.empty:
    st.info("No alert was delivered in this window.")
else:
    st.dataframe(
        channels,
        hide_index=True,
        column_config={
            "channel": "Channel",
            "delivered": st.column_config.NumberColumn("Delivered", format="%d"),
            "undelivered": st.column_config.NumberColumn("Undelivered", format="%d"),
            "retries": st.column_config.NumberColumn("Retries", format="%d"),
            "last_attempt_at": st.column_config.DatetimeColumn("Last attempt"),
            "last_error": "Last error",
        },
    )

st.subheader("Open conditions")
if open_now.empty:
    st.success("Nothing needs attention.")
else:
    severities = st.pills("Severity", SEVERITY_ORDER, selection_mode="multi", default=SEVERITY_ORDER)
    st.dataframe(
        open_now[open_now["severity"].isin(severities)][["severity", "kind", "message", "opened_at"]],
        hide_index=True,
        column_config={"severity": "Severity", "kind": "Kind", "message": "Alert",
                       "opened_at": st.column_config.DatetimeColumn("Open since")},
    )

st.subheader("Recent alerts")
recent = conditions[~conditions["is_open"]]
if recent.empty:
    st.caption("No alert resolved in this window.")
else:
    st.dataframe(
        recent[["severity", "kind", "message", "opened_at", "resolved_at"]],
        hide_index=True,
        column_config={"severity": "Severity", "kind": "Kind", "message": "Alert",
                       "opened_at": st.column_config.DatetimeColumn("Opened"),
                       "resolved_at": st.column_config.DatetimeColumn("Resolved")},
    )
