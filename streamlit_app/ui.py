"""Pieces every page shares: the mode and day pickers, money formatting, KPI rows, charts, error messages."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

import altair as alt
import data
import pandas as pd
import streamlit as st

from payops.db import WarehouseUnavailable
from payops.money import format_money  # noqa: F401 (the pages call ui.format_money)

FALLBACK_EXPONENT = 2
"""Minor-unit exponent shown for a currency the `analytics.currencies` seed does not list."""
DEFAULT_RANGE_DAYS = 30
SERIES_COLOURS = ["#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd"]


class Kpi(NamedTuple):
    label: str
    value: str
    help: str | None = None


def format_count(count: int) -> str:
    return f"{count:,}"


def format_rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def kpi_row(kpis: Sequence[Kpi]) -> None:
    # Sized to their content and wrapping, so a long amount moves to the next line instead of being cut off.
    with st.container(horizontal=True, gap="medium"):
        for kpi in kpis:
            st.metric(kpi.label, kpi.value, help=kpi.help, width="content")


def mode_name(livemode: bool) -> str:
    return "live" if livemode else "test"


class Filters(NamedTuple):
    """The global filters every page reads: kept across pages (the sidebar's widgets live in the entrypoint) and
    in the URL (`?mode=live&from=2026-03-02&to=2026-03-31&currency=usd`), so a link reproduces a view."""

    livemode: bool
    first_day: date
    last_day: date
    currency: str | None
    """None: every currency, each shown on its own."""

    @property
    def mode(self) -> str:
        return mode_name(self.livemode)

    def currencies(self, available: Sequence[str]) -> list[str]:
        return [code for code in available if self.currency in (None, code)]


FILTERS_KEY = "global_filters"
ALL_CURRENCIES = "all"


def _from_url(name: str, parse, default):
    try:
        return parse(st.query_params[name])
    except (KeyError, ValueError):
        return default


def global_filters(settings) -> Filters:
    """The sidebar's mode, days and currency, first read from the URL, written back to it on every run."""
    state = st.session_state
    if "g_mode" not in state:
        state["g_mode"] = "Test" if st.query_params.get("mode") == "test" else "Live"
    livemode = st.sidebar.segmented_control("Mode", ["Live", "Test"], required=True, key="g_mode") == "Live"
    bounds, currencies = None, []
    with warehouse_errors_explained():
        try:
            bounds = data.payment_day_bounds(settings, livemode)
            currencies = data.currencies_seen(settings, livemode)
        except data.MartMissing as exc:
            # Marts not built yet: said here, and the pages reading none (the admin forms, notifications) still open.
            st.sidebar.info(str(exc), icon=":material/build:")
    first_bound, last_bound = bounds or (date.today(), date.today())
    default_first = max(first_bound, last_bound - timedelta(days=DEFAULT_RANGE_DAYS - 1))
    if "g_days" not in state:  # a session's first run: the URL's days
        picked = (_from_url("from", date.fromisoformat, default_first), _from_url("to", date.fromisoformat, last_bound))
        state["g_days"] = tuple(min(max(day, first_bound), last_bound) for day in picked)
    elif state.get("g_days_bounds") != (first_bound, last_bound):  # the other mode's data: its own last 30 days
        state["g_days"] = (default_first, last_bound)
    state["g_days_bounds"] = (first_bound, last_bound)
    days = st.sidebar.date_input("Days", min_value=first_bound, max_value=last_bound, key="g_days")
    first_day, last_day = (days[0], days[1]) if len(days) == 2 else (days[0], days[0])
    options = [ALL_CURRENCIES, *currencies]
    if state.get("g_currency") not in options:
        state["g_currency"] = st.query_params.get("currency", ALL_CURRENCIES)
        if state["g_currency"] not in options:
            state["g_currency"] = ALL_CURRENCIES
    currency = st.sidebar.selectbox(
        "Currency", options, key="g_currency",
        format_func=lambda code: "All, each on its own" if code == ALL_CURRENCIES else code.upper(),
    )
    filters = Filters(livemode, first_day, last_day, None if currency == ALL_CURRENCIES else currency)
    st.query_params.update(
        {"mode": filters.mode, "from": first_day.isoformat(), "to": last_day.isoformat(), "currency": currency}
    )
    st.session_state[FILTERS_KEY] = filters
    return filters


def current_filters() -> Filters:
    """The global filters the entrypoint read on this run."""
    return st.session_state[FILTERS_KEY]


def in_timezone(moment, timezone: str) -> str:
    """A timestamp as people read it in the reporting time zone, the zone named."""
    if moment is None or pd.isna(moment):
        return "never"
    return f"{pd.Timestamp(moment).tz_convert(timezone):%d %b %Y %H:%M} ({timezone})"


def freshness_note(settings) -> None:
    """How old the data is: the last build of the marts and the newest event it saw, in the reporting time zone."""
    with warehouse_errors_explained():
        freshness = data.data_freshness(settings)
    if freshness is None:
        st.caption(f"The marts have not been built yet. {data.REFRESH_HINT}")
        return
    built = pd.Timestamp(freshness["built_at"])
    age_hours = (pd.Timestamp.now(tz="UTC") - built).total_seconds() / 3600
    st.caption(
        f"Data as of the last refresh, **{in_timezone(built, settings.timezone)}** ({age_hours:,.1f} h ago); "
        f"newest event: {in_timezone(freshness['newest_event_created_at'], settings.timezone)}. "
        "New events reach the pages at the next refresh (hourly)."
    )


def refresh_button(user) -> None:
    """Admins only: start a refresh of the whole asset graph through Dagster (`payops refresh`, a Dagster run the
    Dagster UI lists); the pages pick the new build up when it lands."""
    if user is None or not user.is_admin:
        return
    if st.sidebar.button("Refresh now", icon=":material/refresh:", key="admin-refresh",
                         help="Starts `payops refresh`: a Dagster run of every asset (about a minute)."):
        payops = Path(sys.executable).with_name("payops")
        subprocess.Popen([str(payops), "refresh"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        st.sidebar.success("Refresh started; the pages update when it lands.", icon=":material/sync:")


@contextmanager
def warehouse_errors_explained() -> Iterator[None]:
    """A warehouse that is down or a mart not built yet ends the page with what to do, not a traceback."""
    try:
        yield
    except WarehouseUnavailable as exc:
        st.error(str(exc), icon=":material/cloud_off:")
        st.stop()
    except data.MartMissing as exc:
        st.info(str(exc), icon=":material/build:")
        st.stop()


def daily_amounts_chart(
    days: pd.DataFrame, first_day: date, last_day: date, measures: Mapping[str, str], exponent: int
) -> alt.Chart:
    """Lines of one currency's daily amounts; `measures` maps column to legend name. Days without rows are zero."""
    every_day = pd.date_range(first_day, last_day, freq="D", name="day")
    amounts = (
        days.set_index("day")[list(measures)]
        .reindex(every_day, fill_value=0)
        .rename(columns=measures)
        .reset_index()
        .melt("day", var_name="measure", value_name="amount")
    )
    amount_format = f",.{exponent}~f"
    return (
        alt.Chart(amounts)
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title=None, axis=alt.Axis(format="%d %b")),
            y=alt.Y("amount:Q", title=None, axis=alt.Axis(format=amount_format)),
            color=alt.Color(
                "measure:N", title=None, sort=list(measures.values()), legend=alt.Legend(orient="top"),
                # Hues far apart, so gross and net never read as one line.
                scale=alt.Scale(domain=list(measures.values()), range=SERIES_COLOURS[: len(measures)]),
            ),
            tooltip=[
                alt.Tooltip("day:T", title="Day", format="%d %b %Y"),
                alt.Tooltip("measure:N", title="Measure"),
                alt.Tooltip("amount:Q", title="Amount", format=amount_format),
            ],
        )
        .properties(height=220)
    )


def money_column(label: str, exponent: int) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(label, format=f"%,.{exponent}f")


def held_back_section(held_back: pd.DataFrame | None) -> None:
    """The events processing holds back (the `held_back_events` mart), with their errors; None: no such mart."""
    st.subheader("Held-back events")
    if held_back is None:
        st.info("This warehouse has no `held_back_events` mart yet: its processing holds no event back.")
    elif held_back.empty:
        st.info("No event is held back: every stored event was processed or is being retried.")
    else:
        st.caption(f"{len(held_back):,} event(s) held back until their error is fixed, newest attempt first.")
        st.dataframe(held_back, hide_index=True, key="held-back", column_config={
            "event_id": "Event", "event_type": "Type", "object_id": "Object",
            "error": st.column_config.TextColumn("Error", width="large"), "attempts": "Attempts",
            "received_at": st.column_config.DatetimeColumn("Received (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "last_attempt_at": st.column_config.DatetimeColumn("Last attempt (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        })
