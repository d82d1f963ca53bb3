"""System health: is the warehouse reachable, when did the last refresh run and did its dbt tests pass, are the
schedules and sensors ticking, and is processing holding events back."""

import data
import pandas as pd
import streamlit as st
import ui

settings = data.current_settings()
st.title("System health")

problem = data.warehouse_reachable(settings)
freshness = None if problem else data.data_freshness(settings)
held_back = None if problem else data.held_back_events(settings)
dagster = data.dagster_status(settings)
checks = dagster.get("checks", pd.DataFrame())

ui.kpi_row([
    ui.Kpi("Warehouse", "reachable" if problem is None else "unreachable", problem),
    ui.Kpi("Last refresh", ui.in_timezone(freshness["built_at"], settings.timezone) if freshness else "never"),
    ui.Kpi("dbt tests of the last run", "n/a" if checks.empty else f"{int(checks['passed'].sum())} of {len(checks)} "
           "passed"),
    ui.Kpi("Held-back events", "n/a" if held_back is None else ui.format_count(len(held_back))),
])
st.caption(f"Warehouse address (password masked): `{data.warehouse_label(settings)}` · reporting time zone "
           f"**{settings.timezone}**")

if "error" in dagster:
    st.warning(dagster["error"], icon=":material/warning:")
else:
    st.subheader("Schedules and sensors")
    st.dataframe(dagster["instigators"], hide_index=True, column_config={
        "last_tick_at": st.column_config.DatetimeColumn("Last tick (UTC)", format="YYYY-MM-DD HH:mm:ss")})
    st.subheader("Last runs")
    st.dataframe(dagster["runs"], hide_index=True)
    failed_checks = checks[~checks["passed"]] if not checks.empty else checks
    st.subheader("dbt tests of the last finished run")
    if checks.empty:
        st.info("The last finished run recorded no dbt test results.")
    elif failed_checks.empty:
        st.success(f"All {len(checks)} dbt tests passed.", icon=":material/check_circle:")
    else:
        st.dataframe(failed_checks, hide_index=True)

ui.held_back_section(held_back)
