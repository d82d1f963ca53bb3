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
            settings,
            "analytics.currencies",
            "select lower(currency) as currency, exponent from analytics.currencies",
            {},
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


# --- Failures -------------------------------------------------------------------------------------------------

FAILURE_DIMENSIONS = ("failure_code", "decline_code", "card_brand", "card_country")


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def failure_currencies(settings: Settings, livemode: bool, first_day: date, last_day: date) -> pd.DataFrame:
    """Currencies with failed attempts in the range, most failures first: currency, failed_attempts."""
    return _read(
        settings,
        "analytics.failure_analysis",
        """
        select currency, sum(failed_attempts)::bigint as failed_attempts
        from analytics.failure_analysis
        where livemode = :livemode and day between :first_day and :last_day and dimension = 'failure_code'
        group by currency
        order by sum(failed_attempts) desc, currency
        """,
        {"livemode": livemode, "first_day": first_day, "last_day": last_day},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def failure_breakdown(
    settings: Settings, livemode: bool, currency: str, first_day: date, last_day: date
) -> pd.DataFrame:
    """Per dimension and value: failed attempts over the range and their share of the range's failures.

    Every failure has exactly one value per dimension ('(none)' included), so a dimension's values add up
    to all the range's failures and the share is taken within the dimension.
    """
    return _read(
        settings,
        "analytics.failure_analysis",
        """
        select dimension, dimension_value,
               sum(failed_attempts)::bigint as failed_attempts,
               sum(failed_attempts)::float8 / sum(sum(failed_attempts)) over (partition by dimension) as share
        from analytics.failure_analysis
        where livemode = :livemode and currency = :currency and day between :first_day and :last_day
        group by dimension, dimension_value
        order by dimension, sum(failed_attempts) desc, dimension_value
        """,
        {"livemode": livemode, "currency": currency, "first_day": first_day, "last_day": last_day},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def failure_spikes(settings: Settings, livemode: bool, currency: str, first_day: date, last_day: date) -> pd.DataFrame:
    """The days a value's share of failures jumped over its trailing-week baseline, newest first."""
    return _read(
        settings,
        "analytics.failure_analysis",
        """
        select day, dimension, dimension_value, failed_attempts, failures_total,
               share::float8 as share, baseline_share::float8 as baseline_share
        from analytics.failure_analysis
        where livemode = :livemode and currency = :currency and day between :first_day and :last_day and is_spike
        order by day desc, dimension, share desc
        """,
        {"livemode": livemode, "currency": currency, "first_day": first_day, "last_day": last_day},
        parse_dates=["day"],
    )


# --- Disputes -------------------------------------------------------------------------------------------------


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def dispute_months(settings: Settings, livemode: bool) -> pd.DataFrame:
    """dispute_metrics of one mode, with `program_ratio`: the ratio the network's program judges (none for 'other')."""
    return _read(
        settings,
        "analytics.dispute_metrics",
        """
        select month, network, disputes, card_sales_same_month, card_transactions_prior_month,
               visa_ratio::float8 as visa_ratio, mastercard_ratio::float8 as mastercard_ratio,
               (case network when 'visa' then visa_ratio when 'mastercard' then mastercard_ratio end)::float8
                   as program_ratio,
               threshold_status, open_disputes
        from analytics.dispute_metrics
        where livemode = :livemode
        order by month desc, network
        """,
        {"livemode": livemode},
        parse_dates=["month"],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def open_disputes(settings: Settings, livemode: bool) -> pd.DataFrame:
    """Open disputes (inquiries included), the most urgent evidence deadline first; amounts in minor units."""
    return _read(
        settings,
        "analytics.fct_disputes",
        """
        select dispute_id, charge_id, network, reason, status, is_inquiry, currency, amount_minor,
               created_at, evidence_due_by, days_left
        from analytics.fct_disputes
        where livemode = :livemode and outcome = 'open'
        order by evidence_due_by nulls last, dispute_id
        """,
        {"livemode": livemode},
    )


# --- Webhooks -------------------------------------------------------------------------------------------------


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def webhook_hours(settings: Settings, hours: int) -> pd.DataFrame:
    """webhook_health for the hours of arrival within the last `hours` hours (both modes: the log has no mode)."""
    return _read(
        settings,
        "analytics.webhook_health",
        """
        select hour, received, processed, failed, retrying, lag_p50_seconds, lag_p95_seconds
        from analytics.webhook_health
        where hour >= date_trunc('hour', now()) - make_interval(hours => :hours - 1)
        order by hour
        """,
        {"hours": hours},
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def webhook_totals(settings: Settings, hours: int) -> dict:
    """Sums and lag percentiles over the window, from the event log's rows (percentiles do not add), as of the
    last refresh like the hourly chart: the staging copy has the event's `created` beside its arrival and an
    index on arrival, where the live view joins every stored event of the window, payloads and all."""
    with _reading(settings, "analytics.stg_ops__webhook_event_log") as conn:
        row = conn.execute(
            sa.text(
                """
                select count(*)::bigint as received,
                       count(*) filter (where status = 'processed')::bigint as processed,
                       count(*) filter (where status = 'failed')::bigint as failed,
                       count(*) filter (where status = 'retrying')::bigint as retrying,
                       percentile_cont(0.5) within group (order by extract(epoch from received_at - event_created_at))
                           as lag_p50_seconds,
                       percentile_cont(0.95) within group (order by extract(epoch from received_at - event_created_at))
                           as lag_p95_seconds,
                       max(received_at) as newest_received_at
                from analytics.stg_ops__webhook_event_log
                where received_at >= date_trunc('hour', now()) - make_interval(hours => :hours - 1)
                """
            ),
            {"hours": hours},
        ).one()
    return dict(row._mapping)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def failed_webhook_events(settings: Settings) -> pd.DataFrame:
    """Events that failed for good, newest first; never the payload."""
    return _read(
        settings,
        "ops.failed_webhook_events",
        """
        select event_id, event_type, livemode, error_message, retry_count, event_created_at, received_at
        from ops.failed_webhook_events
        order by received_at desc, event_id
        """,
        {},
    )


# --- Reconciliation -------------------------------------------------------------------------------------------

RECONCILIATION_KINDS = (
    "missing_in_stripe", "missing_in_app", "status_mismatch", "amount_mismatch", "currency_mismatch",
)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def reconciliation_counts(settings: Settings, livemode: bool) -> dict[str, int]:
    """Exceptions per kind in one mode, every kind present (zero when none)."""
    counts = _read(
        settings,
        "analytics.reconciliation_exceptions",
        """
        select kind, count(*)::bigint as exceptions
        from analytics.reconciliation_exceptions
        where livemode = :livemode
        group by kind
        """,
        {"livemode": livemode},
    )
    found = dict(zip(counts["kind"], counts["exceptions"].astype(int), strict=True))
    return {kind: found.get(kind, 0) for kind in RECONCILIATION_KINDS} | found


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def reconciliation_exceptions(settings: Settings, livemode: bool, kinds: tuple[str, ...]) -> pd.DataFrame:
    """The exceptions of the given kinds in one mode, newest first."""
    return _read(
        settings,
        "analytics.reconciliation_exceptions",
        """
        select kind, purchase_transaction_id, charge_id, payment_intent_id, app_value, stripe_value, first_seen_at
        from analytics.reconciliation_exceptions
        where livemode = :livemode and kind = any(:kinds)
        order by first_seen_at desc, kind, purchase_transaction_id, charge_id
        """,
        {"livemode": livemode, "kinds": list(kinds)},
    )


# The Notifications page reads the notifier's own tables (ops.alert_conditions, ops.alert_deliveries): they are
# live operational state, like the failed events above, not figures a refresh computes.
@st.cache_data(ttl=30, show_spinner=False)
def alert_conditions(settings: Settings, days: int) -> pd.DataFrame:
    """Conditions open now or opened in the last `days`, newest first."""
    return _read(
        settings,
        "ops.alert_conditions",
        """
        select key, kind, severity, message, opened_at, resolved_at, resolved_at is null as is_open
        from ops.alert_conditions
        where resolved_at is null or opened_at >= now() - make_interval(days => :days)
        order by resolved_at is null desc, opened_at desc
        limit 500
        """,
        {"days": days},
        parse_dates=["opened_at", "resolved_at"],
    )


@st.cache_data(ttl=30, show_spinner=False)
def alert_delivery_status(settings: Settings, days: int) -> pd.DataFrame:
    """Per channel: messages delivered, still undelivered (their latest attempt failed), retries, the last error."""
    return _read(
        settings,
        "ops.alert_deliveries",
        """
        with latest as (
            select distinct on (condition_id, channel, transition) *
            from ops.alert_deliveries
            where attempted_at >= now() - make_interval(days => :days)
            order by condition_id, channel, transition, attempt desc
        )
        select channel,
               count(*) filter (where delivered) as delivered,
               count(*) filter (where not delivered) as undelivered,
               sum(attempt - 1) as retries,
               max(attempted_at) as last_attempt_at,
               (array_agg(error order by attempted_at desc) filter (where error is not null))[1] as last_error
        from latest
        group by channel
        order by channel
        """,
        {"days": days},
        parse_dates=["last_attempt_at"],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payouts(settings: Settings, livemode: bool) -> pd.DataFrame:
    """Every payout in one mode, newest first, with what its itemization carried."""
    return _read(
        settings,
        "analytics.fct_payouts",
        """
        select payout_id, status, amount, amount_minor, currency, created_at, arrival_date, automatic,
               failure_code, failure_message, reconciliation_status, itemized_transactions, itemized_net
        from analytics.fct_payouts
        where livemode = :livemode
        order by created_at desc, payout_id
        """,
        {"livemode": livemode},
        parse_dates=["created_at", "arrival_date"],
    )


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def payout_reconciliation(settings: Settings, record_type: str) -> pd.DataFrame:
    """One kind of payout_reconciliation row (live money only): 'payout' rows, newest first, or
    'unpaid_transaction' rows, oldest first."""
    return _read(
        settings,
        "analytics.payout_reconciliation",
        """
        select payout_id, balance_transaction_id, currency, amount_minor, itemized_net_minor, difference_minor,
               is_reconciled, created_at, available_on, age_days
        from analytics.payout_reconciliation
        where record_type = :record_type
        order by case when record_type = 'payout' then -extract(epoch from created_at)
                      else extract(epoch from created_at) end,
                 payout_id, balance_transaction_id
        """,
        {"record_type": record_type},
        parse_dates=["created_at", "available_on"],
    )
