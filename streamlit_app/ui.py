"""Pieces every page shares: the mode and day pickers, money formatting, KPI rows, charts, error messages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
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


def livemode_choice() -> bool:
    """Live or test mode; the two are never shown together."""
    return st.segmented_control("Mode", ["Live", "Test"], default="Live", required=True, key="mode") == "Live"


def day_range_picker(first_day: date, last_day: date) -> tuple[date, date] | None:
    """A day range within the data, by default its last 30 days; None while only one end is picked."""
    default_first = max(first_day, last_day - timedelta(days=DEFAULT_RANGE_DAYS - 1))
    picked = st.date_input("Days", (default_first, last_day), min_value=first_day, max_value=last_day)
    return (picked[0], picked[1]) if len(picked) == 2 else None


class ModeAndDays(NamedTuple):
    livemode: bool
    first_day: date
    last_day: date

    @property
    def mode(self) -> str:
        return mode_name(self.livemode)


def mode_and_days(settings, mode_column, days_column) -> ModeAndDays:
    """The mode and day-range pickers of the payments pages, in the columns given; stops the page with what
    to do when there is nothing to show."""
    with mode_column:
        livemode = livemode_choice()
    with warehouse_errors_explained():
        bounds = data.payment_day_bounds(settings, livemode)
    if bounds is None:
        st.info(f"No {mode_name(livemode)}-mode payments in the warehouse yet. {data.REFRESH_HINT}")
        st.stop()
    with days_column:
        day_range = day_range_picker(*bounds)
    if day_range is None:
        st.info("Pick the last day of the range.")
        st.stop()
    return ModeAndDays(livemode, *day_range)


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
            color=alt.Color("measure:N", title=None, sort=list(measures.values()), legend=alt.Legend(orient="top")),
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
