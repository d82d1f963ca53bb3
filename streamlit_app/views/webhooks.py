"""Webhooks: how many events arrived and were processed per hour, how late they came, and the ones that failed."""

import altair as alt
import data
import pandas as pd
import streamlit as st
import ui

WINDOWS = {"6 hours": 6, "24 hours": 24, "3 days": 72, "7 days": 168}
OUTCOMES = {"processed": "Processed", "retrying": "Retrying", "failed": "Failed"}


def format_seconds(seconds: float | None) -> str:
    if seconds is None or pd.isna(seconds):
        return "n/a"
    if seconds < 120:
        return f"{seconds:,.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:,.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 86400:,.1f} days"


def lag_unit(seconds: float | None) -> tuple[str, float]:
    """The unit a lag chart reads best in, from its largest value: (name, seconds per unit)."""
    if seconds is None or pd.isna(seconds) or seconds < 120:
        return "seconds", 1.0
    if seconds < 2 * 3600:
        return "minutes", 60.0
    if seconds < 2 * 86400:
        return "hours", 3600.0
    return "days", 86400.0


settings = data.current_settings()
st.title("Webhooks")
window = st.segmented_control("Last", list(WINDOWS), default="24 hours", required=True, key="window")
hours = WINDOWS[window]

with ui.warehouse_errors_explained():
    by_hour = data.webhook_hours(settings, hours)
    totals = data.webhook_window(settings, hours)
    failed_events = data.failed_webhook_events(settings)
    held_back = data.held_back_events(settings)

if totals is None:
    st.info(f"The webhook windows have not been built yet. {data.REFRESH_HINT}")
    st.stop()
st.caption(
    f"Both modes: the event log is not split by mode. The {window} before the last refresh "
    f"({ui.in_timezone(totals['as_of'], settings.timezone)}). Lag = arrival - the event's `created`, on webhook "
    "deliveries only: replayed files and the Events API sync bring old events on purpose, so they are counted apart "
    "and never in the lag."
)
ui.kpi_row(
    [
        ui.Kpi("Webhook deliveries", ui.format_count(totals["webhook_deliveries"]), "Delivered by Stripe's webhooks."),
        ui.Kpi("Replayed", ui.format_count(totals["replayed"]), "Loaded from event files."),
        ui.Kpi("API syncs", ui.format_count(totals["api_synced"]), "Filled in by the Events API sync."),
        ui.Kpi("Processed", ui.format_count(totals["processed"])),
        ui.Kpi("Retrying", ui.format_count(totals["retrying"])),
        ui.Kpi("Failed", ui.format_count(totals["failed"]), "Of the events received in the window."),
        ui.Kpi("Failed, all time", ui.format_count(len(failed_events)), "Every event in ops.failed_webhook_events."),
        ui.Kpi("Webhook lag p50", format_seconds(totals["webhook_lag_p50_seconds"])),
        ui.Kpi("Webhook lag p95", format_seconds(totals["webhook_lag_p95_seconds"])),
    ]
)
if not totals["webhook_deliveries"]:
    st.info(f"No webhook deliveries in the {window} before the last refresh, so no delivery lag to show.")

if by_hour.empty:
    st.info(f"No events received in the {window} before the last refresh.")
else:
    by_hour["hour"] = pd.to_datetime(by_hour["hour"], utc=True).dt.tz_localize(None)
    by_hour["queued"] = by_hour["received"] - by_hour[list(OUTCOMES)].sum(axis=1)
    counts = by_hour.melt("hour", value_vars=[*OUTCOMES, "queued"], var_name="outcome", value_name="events")
    counts["outcome"] = counts["outcome"].map({**OUTCOMES, "queued": "Not yet processed"})
    outcome_names = [*OUTCOMES.values(), "Not yet processed"]
    counts["outcome_rank"] = counts["outcome"].map(outcome_names.index)
    volume = (
        alt.Chart(counts, title="Events received per hour, by current state")
        .mark_bar()
        .encode(
            x=alt.X("hour:O", timeUnit="yearmonthdatehours", title=None, axis=alt.Axis(format="%d %b %H:00")),
            y=alt.Y("events:Q", title=None, stack=True),
            color=alt.Color(
                "outcome:N", title=None, sort=outcome_names, legend=alt.Legend(orient="top", columns=2),
                scale=alt.Scale(domain=outcome_names, range=["#54a24b", "#f58518", "#e45756", "#9d9da1"]),
            ),
            order=alt.Order("outcome_rank:Q"),
            tooltip=[
                alt.Tooltip("hour:T", title="Hour (UTC)", format="%d %b %Y %H:%M"),
                alt.Tooltip("outcome:N", title="State"),
                alt.Tooltip("events:Q", title="Events", format=","),
            ],
        )
        .properties(height=220)
    )
    unit, per_unit = lag_unit(by_hour["webhook_lag_p95_seconds"].max())
    lags = by_hour.melt(
        "hour", value_vars=["webhook_lag_p50_seconds", "webhook_lag_p95_seconds"], var_name="percentile",
        value_name="lag",
    ).dropna()
    lags["percentile"] = lags["percentile"].map({"webhook_lag_p50_seconds": "p50", "webhook_lag_p95_seconds": "p95"})
    lags["lag"] = lags["lag"] / per_unit
    lag = (
        alt.Chart(lags, title=f"Webhook delivery lag per hour ({unit})")
        .mark_line(point=alt.OverlayMarkDef(size=60))
        .encode(
            x=alt.X("hour:T", title=None, axis=alt.Axis(format="%d %b %H:%M")),
            y=alt.Y("lag:Q", title=None, axis=alt.Axis(format=",.2~f")),
            color=alt.Color("percentile:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=[
                alt.Tooltip("hour:T", title="Hour (UTC)", format="%d %b %Y %H:%M"),
                alt.Tooltip("percentile:N", title="Percentile"),
                alt.Tooltip("lag:Q", title=unit.capitalize(), format=",.1f"),
            ],
        )
        .properties(height=220)
    )
    left, right = st.columns(2)
    left.altair_chart(volume, width="stretch")
    right.altair_chart(lag, width="stretch")

st.subheader("Failed events")
if failed_events.empty:
    st.info("No failed webhook events: every stored event was processed or is still being retried.")
else:
    st.caption(
        f"{len(failed_events):,} event(s) failed for good, all time, both modes. After fixing the cause, "
        "queue them again with `payops webhooks retry --event evt_...` (or `--failed` for all)."
    )
    st.dataframe(
        failed_events,
        hide_index=True,
        column_config={
            "event_id": "Event",
            "event_type": "Type",
            "livemode": st.column_config.CheckboxColumn("Live"),
            "error_message": st.column_config.TextColumn("Error", width="large"),
            "retry_count": st.column_config.NumberColumn("Retries"),
            "event_created_at": st.column_config.DatetimeColumn("Created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "received_at": st.column_config.DatetimeColumn("Received (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        },
    )

ui.held_back_section(held_back)
