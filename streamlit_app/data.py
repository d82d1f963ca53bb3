"""Every warehouse read the Streamlit app makes: cached, parameterized, aggregated in Postgres.

Readers take the `Settings` as their first argument so the cache keeps one entry per warehouse
and per reporting time zone. Pages import this module beside the entrypoint (`import data`),
the way Streamlit puts the entrypoint's folder on sys.path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from payops import db
from payops.settings import Settings

CACHE_TTL_SECONDS = 300
REFRESH_HINT = "Run `payops refresh` to build the analytics marts, then reload this page."


class MartMissing(LookupError):
    """An analytics table the page needs has not been built yet; the message names it."""


def current_settings() -> Settings:
    return Settings.from_env()


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def warehouse_label(settings: Settings) -> str:
    return db.masked(db.warehouse_url(settings))


def _require(conn: sa.Connection, table: str) -> None:
    # Checked up front so a missing mart is told apart from any other SQL error.
    if conn.execute(sa.text("select to_regclass(:table)"), {"table": table}).scalar() is None:
        raise MartMissing(f"The table `{table}` does not exist yet. {REFRESH_HINT}")


@contextmanager
def _reading(settings: Settings, table: str) -> Iterator[sa.Connection]:
    with db.engine(settings).connect() as conn:
        _require(conn, table)
        yield conn


def _read(settings: Settings, table: str, sql: str, params: dict, parse_dates: list[str] | None = None) -> pd.DataFrame:
    with _reading(settings, table) as conn:
        return pd.read_sql(sa.text(sql), conn, params=params, parse_dates=parse_dates)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payment_day_bounds(settings: Settings, livemode: bool) -> tuple[date, date] | None:
    """The first and last day with payments in this mode, or None when there are none."""
    with _reading(settings, "analytics.payments_daily") as conn:
        first_day, last_day = conn.execute(
            sa.text("select min(day), max(day) from analytics.payments_daily where livemode = :livemode"),
            {"livemode": livemode},
        ).one()
    return None if first_day is None else (first_day, last_day)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def currency_exponents(settings: Settings) -> dict[str, int]:
    """Minor-unit exponent per lowercase currency from the `analytics.currencies` seed; empty if not seeded."""
    try:
        exponents = _read(
            settings, "analytics.currencies", "select lower(currency) as currency, exponent from analytics.currencies", {}
        )
    except MartMissing:
        return {}
    return dict(zip(exponents["currency"], exponents["exponent"].astype(int), strict=True))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payment_totals(settings: Settings, livemode: bool, first_day: date, last_day: date) -> pd.DataFrame:
    """One row per currency: attempts, successes and money in exact minor units over the range."""
    return _read(
        settings,
        "analytics.payments_daily",
        """
        select currency,
               sum(charge_attempts)::bigint as charge_attempts,
               sum(charges_succeeded)::bigint as charges_succeeded,
               sum(gross_amount_minor)::bigint as gross_minor,
               sum(refunded_amount_minor)::bigint as refunded_minor,
               sum(net_amount_minor)::bigint as net_minor
        from analytics.payments_daily
        where livemode = :livemode and day between :first_day and :last_day
        group by currency
        order by sum(charge_attempts) desc, currency
        """,
        {"livemode": livemode, "first_day": first_day, "last_day": last_day},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payments_by_day(settings: Settings, livemode: bool, first_day: date, last_day: date) -> pd.DataFrame:
    """One row per day and currency, amounts in major units as floats: for charts and tables only."""
    return _read(
        settings,
        "analytics.payments_daily",
        """
        select day, currency,
               sum(charge_attempts)::bigint as charge_attempts,
               sum(charges_succeeded)::float8 / nullif(sum(charge_attempts), 0) as success_rate,
               sum(gross_amount)::float8 as gross,
               sum(refunded_amount)::float8 as refunded,
               sum(net_amount)::float8 as net
        from analytics.payments_daily
        where livemode = :livemode and day between :first_day and :last_day
        group by day, currency
        order by day, currency
        """,
        {"livemode": livemode, "first_day": first_day, "last_day": last_day},
        parse_dates=["day"],
    )
